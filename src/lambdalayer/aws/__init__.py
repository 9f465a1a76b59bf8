"""The border with AWS: boto3 clients, publishing layer versions, attaching them.

The only package that imports boto3.
"""
