"""Fakes of the outside services GridSec talks to (WeChat API), for tests and local mode."""
