"""One of several publishers racing on one table (run as a script by the bank contract).

Argument: JSON {"bank": {...embank.open keywords...}, "seed": int, "ready": path, "go": path}.
Opens the bank, says it is ready, waits for the go file, publishes one version of
``race/table`` made from ``seed`` and prints {"seed", "version"} as JSON.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

import embank
from embank.vector_table import VectorTable


def main() -> None:
    args = json.loads(sys.argv[1])
    rng = np.random.default_rng(args["seed"])
    table = VectorTable.single_entity(
        "user", [f"k{i}" for i in range(20)], rng.standard_normal((20, 4))
    )
    with embank.open(**args["bank"], create=False) as bank:
        Path(args["ready"]).touch()
        go = Path(args["go"])
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        published = bank.publish("race/table", table)
        print(json.dumps({"seed": args["seed"], "version": published.version}))


if __name__ == "__main__":
    main()
