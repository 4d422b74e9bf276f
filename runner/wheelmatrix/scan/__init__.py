"""The static scan: ELF reading, platform-tag policy, glibc/musl symbol data, CPU levels, reach.

Runs on the host with no engine. May import the base modules and inputs.
"""
