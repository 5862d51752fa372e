"""Processes the "examples" queue until Ctrl-C or SIGTERM: each task's JSON payload {"n": k}
becomes the output {"n": k, "square": k*k}. A payload that is not such JSON fails for good
(NonRetryableError); a cancel from an operator stops the handler through job.stop_event.

    PYTHONPATH=clients/python/src /usr/bin/python3 examples/python/worker.py

(from the repository root; or `pip install ./clients/python` and drop PYTHONPATH). The server
address is ACTIONQUEUE_TARGET, default 127.0.0.1:50051 (what `npm start` serves).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal

from actionqueue_client import Client, Job, NonRetryableError, Worker


def handle(job: Job) -> bytes:
    try:
        n = int(json.loads(job.payload)["n"])
    except (ValueError, KeyError, TypeError) as err:
        raise NonRetryableError(f"payload is not {{\"n\": <int>}}: {err}") from err
    # Pretend to work; wait() returns early when the run is canceled or the worker stops.
    if job.stop_event.wait(0.2):
        raise RuntimeError(f"stopped: {job.stop_reason}")
    print(f"run {job.run_id} attempt {job.attempt_number}: n={n}", flush=True)
    return json.dumps({"n": n, "square": n * n}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description="ActionQueue example worker")
    parser.add_argument("--queue", default="examples", help="queue to work on")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    target = os.environ.get("ACTIONQUEUE_TARGET", "127.0.0.1:50051")

    with Client(target) as client:
        worker = Worker(client, [args.queue], handle, concurrency=args.concurrency)
        # Graceful stop: no more leasing, running handlers finish, then run() returns.
        signal.signal(signal.SIGTERM, lambda *_: worker.stop(wait=False))
        print(f"worker {worker.worker_id} on queue {args.queue!r} at {target}; Ctrl-C to stop", flush=True)
        worker.run()
        print(f"stopped: {worker.stats}", flush=True)


if __name__ == "__main__":
    main()
