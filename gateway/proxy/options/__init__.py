"""Channel options that change the conversation, applied around every adapter call."""
