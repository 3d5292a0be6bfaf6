"""A container healthcheck for the web server: `python -m commerce.probe [live|ready]`.

The slim image has no curl. This asks the server in the same container, without loading Django,
the way the TLS proxy does (X-Forwarded-Proto: https, a Host from ALLOWED_HOSTS), and exits 0
when it answers 200.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def probe_host(allowed_hosts: str) -> str:
    """A host name the server accepts: the first of ALLOWED_HOSTS that names one host."""
    for host in allowed_hosts.split(","):
        host = host.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def main(argv: list[str]) -> int:
    which = argv[1] if len(argv) > 1 else "live"
    if which not in ("live", "ready"):
        print(f"usage: python -m commerce.probe [live|ready], not {which!r}", file=sys.stderr)
        return 2
    port = os.environ.get("PORT", "8000")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/health/{which}/",
        headers={
            "Host": probe_host(os.environ.get("ALLOWED_HOSTS", "localhost")),
            "X-Forwarded-Proto": "https",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(exc.read().decode(errors="replace")[:2000], file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"no answer: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
