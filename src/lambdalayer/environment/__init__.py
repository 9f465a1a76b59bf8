"""Lambda's execution environment, imitated: sandboxes, roots (images, synthesized), the
runtime's own packages, limits, the Runtime API, and running code of a layer inside them.

Used by ``check`` (its imports), ``invoke`` and the image checks; it judges nothing.
"""
