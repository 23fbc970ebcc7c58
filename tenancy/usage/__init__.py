"""Usage metering: the event schema, the recorder on the request path, the stream it feeds."""
