// gRPC's official Node.js client (@grpc/grpc-js) calling through the sidecar, for
// tests/integration/test_grpc.py: every call shape, metadata and trailers, an error, a deadline
// and a cancellation. Prints one JSON object with what it saw; the Python test judges it.
//
//   node grpc_client.mjs HOST:PORT
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const here = dirname(fileURLToPath(import.meta.url));
const protos = join(here, "..", "..", "support", "grpc");
const def = protoLoader.loadSync([join(protos, "grpc_predict_v2.proto"), join(protos, "shapes.proto")],
  { keepCase: true, longs: Number, defaults: true });
const pkg = grpc.loadPackageDefinition(def);
const target = process.argv[2];
const infer = new pkg.inference.GRPCInferenceService(target, grpc.credentials.createInsecure());
const shapes = new pkg.mlsidecar.test.Shapes(target, grpc.credentials.createInsecure());
const deadline = (ms) => new Date(Date.now() + ms);

function unary(client, method, request, metadata = new grpc.Metadata(), options = {}) {
  return new Promise((resolve) => {
    const out = {};
    const call = client[method](request, metadata, { deadline: deadline(10000), ...options }, (err, reply) => {
      out.code = err ? err.code : 0;
      out.details = err ? err.details : "";
      out.reply = reply;
    });
    call.on("metadata", (md) => { out.headers = md.getMap(); });
    call.on("status", (s) => { out.trailers = s.metadata.getMap(); resolve(out); });
  });
}

const results = {};
{
  const md = new grpc.Metadata();
  md.set("x-echo", "from-node");
  md.set("x-echo-bin", Buffer.from([0, 1, 2, 254, 255]));
  const r = await unary(infer, "ModelInfer", {
    model_name: "resnet", inputs: [{ name: "x", datatype: "FP32", shape: [2], contents: { fp32_contents: [1.5, 2.5] } }],
  }, md);
  results.unary = {
    code: r.code, sum: r.reply.outputs[0].contents.fp32_contents[0], model: r.reply.model_name,
    echo: r.headers["x-echo"], echo_bin: Buffer.from(r.headers["x-echo-bin"]).toString("hex"),
    trailer: r.trailers["x-trailer"], trailer_bin: Buffer.from(r.trailers["x-trailer-bin"]).toString("hex"),
  };
}
{
  const md = new grpc.Metadata();
  md.set("x-fail", "PERMISSION_DENIED:no access");
  const r = await unary(shapes, "Unary", { seq: 1 }, md);
  results.error = { code: r.code, details: r.details };
}
{
  const md = new grpc.Metadata();
  md.set("x-delay-ms", "2000");
  const r = await unary(shapes, "Unary", { seq: 1 }, md, { deadline: deadline(300) });
  results.deadline = { code: r.code };
}
results.server_stream = await new Promise((resolve) => {
  const seqs = [];
  const call = shapes.ServerStream({ count: 30, size: 50000 }, { deadline: deadline(20000) });
  call.on("data", (c) => { if (c.data.length === 50000) seqs.push(c.seq); });
  call.on("status", (s) => resolve({ code: s.code, seqs }));
});
results.client_stream = await new Promise((resolve) => {
  const call = shapes.ClientStream({ deadline: deadline(20000) }, (err, summary) =>
    resolve({ code: err ? err.code : 0, count: summary?.count, bytes: Number(summary?.bytes) }));
  for (let i = 0; i < 25; i++) call.write({ seq: i, data: Buffer.alloc(40000, i) });
  call.end();
});
results.bidi = await new Promise((resolve) => {
  const seqs = [];
  const call = shapes.Bidi({ deadline: deadline(20000) });
  let next = 0;
  const send = () => { if (next < 15) call.write({ seq: next++, data: Buffer.from("ping") }); else call.end(); };
  call.on("data", (c) => { seqs.push(c.seq); send(); });  // one in flight: each reply relayed at once
  call.on("status", (s) => resolve({ code: s.code, seqs }));
  send();
});
results.cancel = await new Promise((resolve) => {
  let got = 0;
  const call = shapes.ServerStream({ count: 1000, size: 10, interval_ms: 20 }, { deadline: deadline(20000) });
  call.on("data", () => { if (++got === 3) call.cancel(); });
  call.on("status", (s) => resolve({ code: s.code, got }));
  call.on("error", () => {});
});
console.log(JSON.stringify(results));
infer.close();
shapes.close();
