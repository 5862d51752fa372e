"""Submits a few tasks to ActionQueue and, with --wait, follows them with a watch until every
run is terminal, printing each outcome.

    PYTHONPATH=clients/python/src /usr/bin/python3 examples/python/producer.py -n 5 --wait

(from the repository root; or `pip install ./clients/python` and drop PYTHONPATH). The server
address is ACTIONQUEUE_TARGET, default 127.0.0.1:50051 (what `npm start` serves).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from actionqueue.v1 import run_pb2
from actionqueue_client import ActionQueueError, Client, InvalidArgumentError

TERMINAL = {run_pb2.RUN_STATE_COMPLETED, run_pb2.RUN_STATE_FAILED, run_pb2.RUN_STATE_CANCELED}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", default="examples", help="queue to submit to")
    parser.add_argument("-n", type=int, default=3, help="number of tasks")
    parser.add_argument("--wait", action="store_true", help="watch until every run is terminal")
    args = parser.parse_args()
    target = os.environ.get("ACTIONQUEUE_TARGET", "127.0.0.1:50051")

    with Client(target) as client:
        pending: dict[str, str] = {}
        first_revision = 0
        for i in range(1, args.n + 1):
            payload = json.dumps({"n": i}).encode()
            try:
                response = client.submit_task(args.queue, payload, content_type="application/json", max_attempts=3)
            except InvalidArgumentError as err:
                # Typed errors: a bad field comes back with its field violations.
                print(f"submit refused: {err} (fields: {err.fields})", file=sys.stderr)
                return 1
            except ActionQueueError as err:
                print(f"cannot submit to ActionQueue at {target}: {err}", file=sys.stderr)
                return 1
            run = response.runs[0]
            first_revision = first_revision or run.revision
            pending[run.id] = payload.decode()
            print(f"submitted task {response.task.id} run {run.id} payload {payload.decode()}")
        if not args.wait:
            return 0

        # Every later event of these runs has a higher revision than the first one's creation.
        with client.watch_runs(queues=[args.queue], from_revision=first_revision) as events:
            for event in events:
                if event.run_id not in pending or event.to_state not in TERMINAL:
                    continue
                got = client.get_run(event.run_id)
                state = run_pb2.RunState.Name(got.run.state).removeprefix("RUN_STATE_")
                last = got.attempts[-1] if got.attempts else None
                detail = last.output.decode(errors="replace") if last and last.output else (last.error if last else "")
                print(f"run {event.run_id} {state} after {got.run.attempt_count} attempt(s): {detail}")
                del pending[event.run_id]
                if not pending:
                    break
    return 0


if __name__ == "__main__":
    sys.exit(main())
