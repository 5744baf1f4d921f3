"""``python -m edge_runtime`` runs the CLI."""

from edge_runtime.cli.main import main

raise SystemExit(main())
