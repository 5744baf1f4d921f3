"""A host program: push camera frames, receive outputs, switch power mode (docs/api.md)."""
import sys
import time

import numpy as np

from edge_runtime import Output, Runtime


def on_output(output: Output) -> None:  # runs on a runtime thread, never on a lane
    print(output.pipeline, output.stamp, output.frame_id, output.result.to_record()["labels"],
          f"{output.latency_s * 1e3:.1f} ms")


def main(pipelines: str) -> None:
    runtime = Runtime(pipelines)  # the simulated Jetson unless a device is given
    runtime.subscribe(on_output)
    runtime.configure()  # builds or loads every engine
    runtime.activate()  # returns at once: the runtime runs in its own threads
    for i in range(60):
        image = np.random.default_rng(i).integers(0, 255, (128, 128, 3), dtype=np.uint8)
        runtime.push("camera", image, stamp=time.time(), frame_id=f"frame-{i}")
        if i == 30:
            runtime.set_power_mode("15W")
        time.sleep(1 / 30)
    print(runtime.status().pipelines["camera"])
    runtime.shutdown()  # deactivates, drains, releases the engines


main(sys.argv[1])
