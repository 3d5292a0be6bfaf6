"""The demo's stand-in for a 3PL or an ERP: an HTTP server that checks each webhook's Standard
Webhooks signature and prints what it received. `python -m demo.webhook_receiver --port 8001`.

Answers 204 to a delivery whose signature verifies, 401 otherwise (the product then retries).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = os.environ.get("DEMO_WEBHOOK_SECRET", "")


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            payload = Webhook(SECRET).verify(body, dict(self.headers))
        except (WebhookVerificationError, ValueError) as error:
            print(
                f"[webhook receiver] REFUSED {self.headers.get('webhook-id')}: {error}", flush=True
            )
            self.send_response(401)
            self.end_headers()
            return
        data = payload.get("data") or {}
        what = data.get("number") or data.get("order_number") or ""
        total = f", total {data['total']} {data.get('currency', '')}" if "total" in data else ""
        print(
            f"[webhook receiver] {payload.get('type')} {self.headers.get('webhook-id')} "
            f"signature verified: {what}{total}",
            flush=True,
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):  # the line above says it all
        pass


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    if not SECRET:
        raise SystemExit("DEMO_WEBHOOK_SECRET is not set")
    server = ThreadingHTTPServer((args.host, args.port), Receiver)
    print(f"[webhook receiver] listening on http://{args.host}:{args.port}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
