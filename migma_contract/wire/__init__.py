"""Every HTTP concern of the toolkit, in one place.

- `client`: sending cases to a target (a URL, or an ASGI app in-process), bounded in
  time and size, with retries of 429 and redirect rules;
- `asgi`: a synchronous httpx transport into an ASGI app (the consumer fixtures' client);
- `serve`: serving an ASGI app on a loopback port from a background thread.
"""
