"""The runtime: a pipeline set, its engines and the scheduler, on the wall or a simulated clock."""
