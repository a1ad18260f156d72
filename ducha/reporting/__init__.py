"""The month's briefing (通报): its content read from the judgements (briefing), inline SVG
charts (charts), the offline HTML page (html), the .xlsx workbook (xlsx), both files (files)."""
