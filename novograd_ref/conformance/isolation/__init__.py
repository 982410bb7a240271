"""Running an implementation in a child process: the runner, its protocol and the
child's entry point."""
