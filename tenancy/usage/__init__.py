"""Usage metering: the event schema, the recorder on the request path, the stream it feeds,
and the local spool that keeps events while Redis is unreachable."""
