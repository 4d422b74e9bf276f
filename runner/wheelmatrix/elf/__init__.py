"""Static ELF analysis on the host (pyelftools): no container, no emulation."""
