"""The Redis broker transport, kept usable after a broker outage.

celery 5.7.0 crashes its worker on a short Redis outage (issue #12): on the lost connection the
consumer first `collect()`s it, which closes the channels and then sets `transport.client = None`,
and then `close()`s it again. A task channel whose first close failed halfway (it was reading an
outstanding BRPOP reply from the dead socket) is closed for real the second time: it drops its
Redis connection pool and, to put its unacknowledged messages back, builds a new pool from
`transport.client`, which is now None. The resulting `AttributeError: 'NoneType' object has no
attribute 'hostname'` is not a connection error, so the worker stops with "Unrecoverable error";
a task finishing later would hit the same error when it is acknowledged. celery 5.6.3 did not
close twice, so the pool survived.

The transport here keeps its connection settings when kombu detaches it: the calls above then
fail with a real `ConnectionError` while Redis is down (which the worker logs and rides out) or
succeed once it is back. The only cost is a reference cycle between a closed connection and its
transport, which the garbage collector frees.
"""

from kombu.transport import redis


class RedisTransport(redis.Transport):
    _client = None

    @property
    def client(self):
        return self._client

    @client.setter
    def client(self, value):
        # kombu sets None when closing only to break the cycle; channels still read it afterwards.
        if value is not None:
            self._client = value
