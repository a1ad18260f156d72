"""The units 'portal: personal links, the web app, the desk that alone opens the database."""
