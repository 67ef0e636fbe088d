"""moto server with requests applied one at a time (test support for the session-locking tests).

Named gap: moto_server answers on several threads and its DynamoDB conditional writes are a
check-then-set without a lock, so two concurrent conditional UpdateItems on one item can both
succeed. Real DynamoDB applies each item write atomically. Serialising requests restores that
guarantee without changing anything the PHP session handler sends.

Usage: python moto_serial.py <port>
"""

import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serial(environ, start_response):
    with lock:
        # Materialise the body while holding the lock so the whole request is one step.
        return list(app(environ, start_response))


if __name__ == "__main__":
    run_simple(
        "127.0.0.1",
        int(sys.argv[1]),
        serial,
        threaded=True,
        request_handler=MotoRequestHandler,
    )
