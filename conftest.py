"""Repository-root conftest: our own tests drive pytest in-process through `pytester`.

The opscheck plugin itself is registered once, through its `pytest11` entry point; it is not
listed here, because pytest refuses to register a plugin twice.
"""

pytest_plugins = ["pytester"]
