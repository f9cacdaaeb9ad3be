"""What the tests and the bench share: the service under real gunicorn, redis-server, ports, polling, a fake Provider.

Only tests/ and bench/ import this package; it imports neither of them, and the service never imports it.
"""
