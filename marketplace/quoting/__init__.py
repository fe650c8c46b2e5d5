"""The quote engine: the cheapest suitable plans for a request, all-in (docs/quotes.md).

engine.quote_create is the entry point. request holds the request and the work of answering
it; candidates, streams and stream_layout read offers; plans and costs price them;
plan_search finds the best plans; exclusion_counts counts what was left out; storage saves
and reads back Quote rows; presentation is what a quote looks like to the API.
"""
