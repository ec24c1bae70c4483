"""One module per check family: its case type, how the profile builds it, and its logic.

The pytest side of each family is the small module of the same name in `checks/`.
"""
