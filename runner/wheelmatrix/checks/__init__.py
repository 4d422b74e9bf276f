"""What runs inside a cell, and how its raw outcome becomes a status and a one-line detail."""
