"""The writing tasks: ad copy, emails, chat replies, and the helpers they share."""
