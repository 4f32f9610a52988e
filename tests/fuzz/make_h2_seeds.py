#!/usr/bin/python3
"""Writes the seeds of fuzz_h2_server (corpus/fuzz_h2_server/): valid HTTP/2 client byte streams
made by python3-h2 (Debian's), an implementation that is not ours. Byte 0 is the target's mode
byte (bit 0: raw, else the preface is put in front by the target; bits 1-7: piece size - 1).

    /usr/bin/python3 tests/fuzz/make_h2_seeds.py
"""
import os
import struct

import h2.config
import h2.connection
import h2.settings

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_h2_server")
GRPC = [(":method", "POST"), (":scheme", "http"), (":authority", "model:8001"),
        (":path", "/inference.GRPCInferenceService/ModelInfer"),
        ("content-type", "application/grpc"), ("te", "trailers"), ("grpc-timeout", "100m"),
        ("x-trace-bin", "AAEC/f7/")]


def client():
    c = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    c.initiate_connection()
    return c


def message(payload):
    return b"\0" + struct.pack(">I", len(payload)) + payload


def write(name, data, raw=False, piece=16):
    mode = ((piece - 1) << 1) | (1 if raw else 0)
    if not raw:
        assert data.startswith(PREFACE)
        data = data[len(PREFACE):]
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes([mode]) + data)


def main():
    os.makedirs(OUT, exist_ok=True)
    c = client()
    c.send_headers(1, GRPC)
    c.send_data(1, message(b"infer me"), end_stream=True)
    write("grpc_unary", c.data_to_send())

    c = client()
    c.send_headers(1, [f for f in GRPC if f[0] != "grpc-timeout"] + [("grpc-encoding", "gzip")])
    for i in range(4):
        c.send_data(1, message(b"chunk%d" % i))
    c.ping(b"12345678")
    c.increment_flow_control_window(65536)
    c.send_headers(1, [("x-checksum", "42")], end_stream=True)
    write("grpc_bidi_trailers", c.data_to_send(), piece=7)

    c = client()
    c.send_headers(1, [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                       (":path", "/v2/health/ready"), ("x-big", "a" * 30000)], end_stream=True)
    write("get_continuation_raw", c.data_to_send(), raw=True, piece=128)

    c = client()
    c.send_headers(1, GRPC)
    c.reset_stream(1, 8)
    c.send_headers(3, GRPC)
    c.send_data(3, message(b"x" * 8), end_stream=True)
    write("cancel_then_call", c.data_to_send(), piece=32)

    c = client()
    c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000})
    c.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":authority", "x"),
                       (":path", "/v2/models/m/infer"), ("content-type", "application/json")])
    c.send_data(1, b'{"inputs":[]}', end_stream=True)
    c.close_connection()
    write("json_post_goaway", c.data_to_send(), piece=64)


if __name__ == "__main__":
    main()
