"""oxbot's Textual cockpit: the app, its screens and widgets. Textual code only."""
