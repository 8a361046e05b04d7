"""One module per demo HTTP system (``shop``, ``esp``, ``social``), each defining ``App`` (see ``api_server``)."""
