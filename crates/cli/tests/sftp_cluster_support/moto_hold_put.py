"""moto server that makes two writers of one S3 object race, deterministically.

Test support for crates/cli/tests/sftp_cluster.rs (two `idealstack sftp user add` at once). It
changes only the emulator's timing, never what a caller sends or what moto answers: the first
PutObject of the given key is held (before moto checks its If-Match / If-None-Match condition)
until a later PutObject of that key has been answered, or 30 s have passed. So both writers have
read the same version before either write lands, and the held write meets the other's change:
a conditional write is refused (412) and retried; an unconditional one overwrites it.

Usage: python moto_hold_put.py <port> <key>
"""

import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.s3.responses import S3Response

HOLD_KEY = sys.argv[2]
_original = S3Response.put_object
_lock = threading.Lock()
_puts = [0]
_released = threading.Event()


def put_object(self):
    if self.parse_key_name() != HOLD_KEY:
        return _original(self)
    with _lock:
        _puts[0] += 1
        n = _puts[0]
    if n == 1:
        _released.wait(timeout=30)
        return _original(self)
    try:
        return _original(self)
    finally:
        _released.set()


S3Response.put_object = put_object

app = DomainDispatcherApplication(create_backend_app)

if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True, request_handler=MotoRequestHandler)
