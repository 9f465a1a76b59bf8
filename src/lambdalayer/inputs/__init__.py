"""What the user asked for: requirement strings and files, projects, [tool.lambdalayer].

Knows nothing of resolving or building.
"""
