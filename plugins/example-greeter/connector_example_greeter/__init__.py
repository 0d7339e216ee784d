"""An example third-party plugin for Chatshop Connector."""
