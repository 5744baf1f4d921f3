"""``edge-runtime serve``: the runtime as a long-running Linux service (systemd, metrics)."""
