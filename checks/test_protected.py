"""Protected routes (family `auth`): missing and wrong keys are refused, every configured key accepted (rotation)."""


def test_protected(protected_check):
    protected_check.run()
