"""Test doubles shared by the test suite (a fake HoneyHive API served over real HTTP, ...)."""
