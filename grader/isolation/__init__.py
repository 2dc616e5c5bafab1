"""How a student's kernel is confined: the sandbox that starts it (limits, an allow-list root, its own pid and
network namespaces), the kernelspec that says what it may see, and the processes it leaves, killed when it
ends."""
