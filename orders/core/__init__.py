"""The order record and what every part of `orders` shares: the order's lock, history, event
names and payloads, the moves between states that touch nothing else (`records`), and the API's
idempotency keys (`idempotency`). The lowest part: it imports no other part of `orders`."""
