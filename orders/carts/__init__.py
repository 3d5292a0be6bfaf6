"""Carts: lines, buyer details, shipping or pickup choice, and the stock hold at checkout.
Above pricing (a cart is priced by `pricing.quotes`), below payments and placement."""
