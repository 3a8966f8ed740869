//! unicat against hostile peers: clients that open connections and never finish a request.

mod provider;
