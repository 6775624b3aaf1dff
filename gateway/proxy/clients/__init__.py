"""Client schemas other than chat (Anthropic Messages, OpenAI Responses): one translator
module per pair of (client schema, upstream form), each beside its test, over one request
flow (endpoint.py). Adapters that take a client schema natively get its body as it is."""
