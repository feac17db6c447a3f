/* shopwright chat widget. A shop embeds it with one tag:

     <script src="https://SHOPWRIGHT_HOST/widget.js" data-title="Ask us" async></script>

   Optional attributes: data-key (a widget key: `shopwright keys create --scope widget`),
   data-greeting (first message shown), data-color (accent colour), data-text-color (text on
   the accent), data-session (a session id the shop's server opened for a logged-in shopper).
   It adds a launcher button and a chat panel inside a Shadow DOM (the shop's CSS cannot reach
   it) and streams answers from /v1/chat on the host it was loaded from. The conversation lives
   in a server-side session (its id in localStorage), so it survives reloads, and on another
   device with data-session. Everything the server or the shopper wrote is put in the page as
   text (textContent); only http(s) links and images the server returned are used. No
   dependencies. */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.src || window.__shopwrightWidget) return;
  window.__shopwrightWidget = true;

  // Relative to the script, so a shopwright behind a path prefix works too.
  var CHAT_URL = new URL("v1/chat?stream=true", script.src).href;
  var SESSION_URL = new URL("v1/chat/session", script.src).href;
  var HANDOFF_URL = new URL("v1/chat/session/handoff", script.src).href;
  var FEEDBACK_URL = new URL("v1/chat/feedback", script.src).href;
  var PLACEHOLDER = new URL("widget/placeholder.svg", script.src).href;
  var STORE_KEY = "shopwright-chat:" + new URL(script.src).origin;
  var SESSION_KEY = "shopwright-session:" + new URL(script.src).origin;
  var API_KEY = script.getAttribute("data-key");
  var GIVEN_SESSION = script.getAttribute("data-session");
  var TITLE = script.getAttribute("data-title") || "Chat with us";
  var GREETING = script.getAttribute("data-greeting") ||
    "Hi! Ask me about orders, shipping, returns or our products.";
  var COLOR = script.getAttribute("data-color");
  var TEXT_COLOR = script.getAttribute("data-text-color");
  var MAX_CHARS = 4000; // per message, as the API accepts
  var HISTORY_TURNS = 10; // earlier turns sent with each question (the API takes up to 20)
  var KEPT_TURNS = 40; // turns kept in sessionStorage

  var STYLES = [
    ":host { all: initial; }",
    "*, *::before, *::after { box-sizing: border-box; }",
    ".root { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;",
    "  font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif;",
    "  color: #1d2125; --accent: #1f5f4a; --on-accent: #fff; }",
    "button, input { font: inherit; }",
    ".launcher { display: block; margin-left: auto; border: 0; border-radius: 999px;",
    "  padding: 12px 20px; background: var(--accent); color: var(--on-accent); cursor: pointer;",
    "  box-shadow: 0 4px 14px rgba(0,0,0,.25); font-weight: 600; }",
    ".panel { position: absolute; right: 0; bottom: 60px; display: flex;",
    "  flex-direction: column; width: min(370px, calc(100vw - 40px));",
    "  height: min(540px, calc(100vh - 100px)); background: #fff; border-radius: 12px;",
    "  box-shadow: 0 10px 40px rgba(0,0,0,.3); overflow: hidden; }",
    ".panel[hidden] { display: none; }",
    "header { display: flex; align-items: center; gap: 8px; padding: 10px 12px;",
    "  background: var(--accent); color: var(--on-accent); }",
    "h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 600; }",
    "header button { border: 0; background: transparent; color: #fff; cursor: pointer;",
    "  padding: 4px 8px; border-radius: 6px; }",
    "header .close { font-size: 20px; line-height: 1; }",
    ".log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column;",
    "  gap: 10px; background: #f6f7f8; }",
    ".msg { max-width: 88%; padding: 8px 11px; border-radius: 10px; background: #fff;",
    "  border: 1px solid #e1e4e8; align-self: flex-start; }",
    ".msg.user { align-self: flex-end; background: var(--accent); color: var(--on-accent); border: 0; }",
    ".text { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }",
    ".pending .text:empty::after { content: '\\2026'; color: #6a737d; }",
    ".error { color: #a1260d; margin: 6px 0 0; }",
    ".extra { margin: 8px 0 0; padding: 0; list-style: none; font-size: 13px; }",
    ".extra-title { margin: 8px 0 0; font-size: 12px; font-weight: 600; color: #586069; }",
    ".extra li { margin: 2px 0; }",
    "a { color: var(--accent); }",
    ".handoff { margin: 8px 0 0; padding: 6px 8px; border-left: 3px solid #d9822b;",
    "  background: #fff6ea; font-size: 13px; }",
    ".cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(96px, 1fr));",
    "  gap: 6px; margin: 8px 0 0; padding: 0; list-style: none; }",
    ".card { border: 1px solid #e1e4e8; border-radius: 8px; overflow: hidden;",
    "  background: #fff; font-size: 12px; }",
    ".card a { display: block; color: #1d2125; text-decoration: none; }",
    ".card img { display: block; width: 100%; aspect-ratio: 1; object-fit: cover;",
    "  background: #eef0f2; }",
    ".card .name { display: block; padding: 4px 6px 0; font-weight: 600; }",
    ".card .price { display: block; padding: 0 6px 6px; color: #3d4a43; }",
    ".human { border: 0; background: transparent; color: var(--accent); cursor: pointer;",
    "  text-decoration: underline; padding: 0 12px 6px; font-size: 13px; text-align: left; }",
    "form { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #e1e4e8; }",
    "input { flex: 1; min-width: 0; padding: 8px 10px; border: 1px solid #c6cbd1;",
    "  border-radius: 8px; color: #1d2125; background: #fff; }",
    "form button { border: 0; border-radius: 8px; padding: 8px 14px; cursor: pointer;",
    "  background: var(--accent); color: var(--on-accent); font-weight: 600; }",
    "button:disabled, input:disabled { opacity: .6; cursor: default; }",
    ":focus-visible { outline: 3px solid #2f81f7; outline-offset: 2px; }",
    ".note { margin: 0; padding: 0 12px 8px; font-size: 11px; color: #6a737d; }",
    ".feedback { margin: 8px 0 0; font-size: 13px; color: #586069; display: flex;",
    "  flex-wrap: wrap; align-items: center; gap: 6px; }",
    ".feedback button { border: 1px solid #c6cbd1; border-radius: 999px; background: #fff;",
    "  padding: 2px 10px; cursor: pointer; color: #1d2125; }",
    ".feedback input { flex: 1 1 100%; padding: 4px 8px; font-size: 13px; }",
    ".sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden;",
    "  clip: rect(0 0 0 0); white-space: nowrap; }"
  ].join("\n");

  // ---- state -------------------------------------------------------------------------------

  function loadState() {
    try {
      var saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
      if (saved && Array.isArray(saved.turns)) return { open: !!saved.open, turns: saved.turns };
    } catch (e) { /* storage disabled or garbled: start fresh */ }
    return { open: false, turns: [] };
  }

  var state = loadState();
  var sessionId = GIVEN_SESSION || readSession();

  function readSession() {
    try { return localStorage.getItem(SESSION_KEY); } catch (e) { return null; }
  }

  function keepSession(id) {
    if (typeof id !== "string" || !id || id === sessionId) return;
    sessionId = id;
    try { localStorage.setItem(SESSION_KEY, id); } catch (e) { /* lasts as long as the page */ }
  }

  function headers(extra) {
    var all = { "Content-Type": "application/json" };
    if (API_KEY) all.Authorization = "Bearer " + API_KEY;
    if (sessionId) all["X-Shopwright-Session"] = sessionId;
    Object.keys(extra || {}).forEach(function (name) { all[name] = extra[name]; });
    return all;
  }

  function saveState() {
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify(
        { open: state.open, turns: state.turns.slice(-KEPT_TURNS) }));
    } catch (e) { /* the conversation then lasts as long as the page */ }
  }

  function history() {
    return state.turns.filter(function (turn) {
      return (turn.role === "user" || turn.role === "assistant") &&
        typeof turn.content === "string" && turn.content.trim();
    }).slice(-HISTORY_TURNS).map(function (turn) {
      return { role: turn.role, content: turn.content.slice(0, MAX_CHARS) };
    });
  }

  // ---- the server's reply ------------------------------------------------------------------

  function safeUrl(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      var url = new URL(value); // no base: relative or odd strings are not links
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function text(value, limit) {
    return (typeof value === "string" ? value : "").slice(0, limit || 300);
  }

  // The reply's answer ends with a "Sources: [1] ..." line (in the shop's language: "Quellen:
  // [1] ...") and "You might like: ..." lines for plain-text clients; the widget shows lists.
  var SOURCES_LINE = /^[^\s:]{1,20}: \[1\] /;
  function toTurn(reply) {
    var citations = (Array.isArray(reply.citations) ? reply.citations : [])
      .filter(function (c) { return c && typeof c === "object"; })
      .map(function (c) { return { title: text(c.title), url: safeUrl(c.url) }; })
      .filter(function (c) { return c.title; });
    var products = (Array.isArray(reply.products) ? reply.products : [])
      .filter(function (p) { return p && typeof p === "object"; })
      .map(function (p) {
        return { title: text(p.title), price: text(p.price_text, 40), url: safeUrl(p.url),
                 image: safeUrl(p.image_url) };
      })
      .filter(function (p) { return p.title; });
    var lines = text(reply.answer, MAX_CHARS).split("\n");
    if (citations.length && SOURCES_LINE.test(lines[lines.length - 1])) lines.pop();  // the last
    var answer = lines.filter(function (line) {
      return !(products.length && line.indexOf("You might like: ") === 0);
    }).join("\n").trim();
    return { role: "assistant", content: answer, citations: citations, products: products,
             handoff: reply.handoff === true,
             turnId: Number.isInteger(reply.turn_id) ? reply.turn_id : null };
  }

  // Server-sent events over fetch: "data: {...}" blocks separated by blank lines. An
  // {"error": {status, detail}} event (generation failed after the answer began) rejects with
  // a message for the shopper, marked `fromServer` so the caller shows it as it is.
  async function readEvents(body, onDelta) {
    var reader = body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var reply = null;
    for (;;) {
      var chunk = await reader.read();
      buffer += decoder.decode(chunk.value || new Uint8Array(0), { stream: !chunk.done });
      var blocks = buffer.split(/\r?\n\r?\n/);
      buffer = chunk.done ? "" : blocks.pop();
      for (var i = 0; i < blocks.length; i++) {
        var data = blocks[i].split(/\r?\n/).filter(function (line) {
          return line.indexOf("data:") === 0;
        }).map(function (line) { return line.slice(5).replace(/^ /, ""); }).join("\n");
        if (!data) continue;
        if (data === "[DONE]") {
          reader.cancel().catch(function () {});
          return reply;
        }
        var event = JSON.parse(data);
        if (event && typeof event.delta === "string") onDelta(event.delta);
        else if (event && event.reply && typeof event.reply === "object") reply = event.reply;
        else if (event && event.error && typeof event.error === "object") {
          reader.cancel().catch(function () {});
          var failure = new Error(streamError(event.error));
          failure.fromServer = true;
          throw failure;
        }
      }
      if (chunk.done) return reply;
    }
  }

  function streamError(error) {
    var status = typeof error.status === "number" ? error.status : 500;
    if (status === 503) return "The assistant got busy and stopped this answer. Please ask again.";
    return "The answer stopped because of an error on our side (error " + status +
      "). Please try again.";
  }

  async function httpError(response) {
    var detail = "";
    try {
      var body = await response.json();
      if (body && typeof body.detail === "string") detail = body.detail;
    } catch (e) { /* not JSON */ }
    if (response.status === 429) return "Too many questions at once. Please wait a moment.";
    if (response.status >= 500) {
      return "The assistant is unavailable right now (error " + response.status +
        "). Please try again later.";
    }
    return "Your question could not be answered (error " + response.status + ")" +
      (detail ? ": " + detail.slice(0, 200) : ".");
  }

  // ---- DOM -----------------------------------------------------------------------------------

  function el(tag, attrs, content) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (content != null) node.textContent = content;
    return node;
  }

  function link(label, value) {
    var url = safeUrl(value);
    if (!url) return el("span", {}, label);
    var a = el("a", { href: url }, label);
    if (new URL(url).origin !== location.origin) {
      a.target = "_blank";
      a.rel = "noopener noreferrer";
    }
    return a;
  }

  function mount() {
    var host = el("div", { id: "shopwright-chat" });
    var shadow = host.attachShadow({ mode: "open" });
    if (shadow.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function" &&
        CSSStyleSheet.prototype.replaceSync) {
      var sheet = new CSSStyleSheet(); // not subject to a shop's CSP style-src
      sheet.replaceSync(STYLES);
      shadow.adoptedStyleSheets = [sheet];
    } else {
      shadow.appendChild(el("style", {}, STYLES));
    }

    var root = el("div", { "class": "root" });
    if (COLOR && window.CSS && window.CSS.supports("color", COLOR)) {
      root.style.setProperty("--accent", COLOR);
    }
    if (TEXT_COLOR && window.CSS && window.CSS.supports("color", TEXT_COLOR)) {
      root.style.setProperty("--on-accent", TEXT_COLOR);
    }
    var launcher = el("button", { type: "button", "class": "launcher", "aria-haspopup": "dialog",
                                  "aria-expanded": "false", "aria-controls": "sw-panel" }, TITLE);
    var panel = el("section", { id: "sw-panel", "class": "panel", role: "dialog",
                                "aria-labelledby": "sw-title" });
    panel.hidden = true;
    var header = el("header");
    var reset = el("button", { type: "button", "class": "reset",
                               "aria-label": "Start a new conversation" }, "New");
    var close = el("button", { type: "button", "class": "close", "aria-label": "Close chat" },
                   "\u00d7");
    header.append(el("h2", { id: "sw-title" }, TITLE), reset, close);
    var log = el("div", { "class": "log", role: "log", "aria-live": "polite",
                          "aria-label": "Conversation" });
    var form = el("form", { "class": "composer" });
    var input = el("input", { id: "sw-input", type: "text", maxlength: String(MAX_CHARS),
                              autocomplete: "off", placeholder: "Type your question" });
    var sendButton = el("button", { type: "submit" }, "Send");
    form.append(el("label", { "for": "sw-input", "class": "sr-only" }, "Your question"),
                input, sendButton);
    var human = el("button", { type: "button", "class": "human" }, "Talk to a person");
    panel.append(header, log, human, form,
                 el("p", { "class": "note" }, "Answers are written by an AI assistant."));
    root.append(launcher, panel);
    shadow.appendChild(root);
    document.body.appendChild(host);

    var busy = false;

    function scrollDown() { log.scrollTop = log.scrollHeight; }

    // A product card: picture (the shop's, or a placeholder), name and price, one link.
    function card(p) {
      var li = el("li", { "class": "card" });
      var image = el("img", { src: p.image || PLACEHOLDER, alt: "", loading: "lazy",
                              width: "96", height: "96" });
      image.addEventListener("error", function () {
        if (image.src !== PLACEHOLDER) image.src = PLACEHOLDER;
      }, { once: true });
      var body = p.url ? link("", p.url) : el("span");
      body.textContent = "";
      body.append(image, el("span", { "class": "name" }, p.title),
                  el("span", { "class": "price" }, p.price || ""));
      li.appendChild(body);
      return li;
    }

    function addExtras(item, turn) {
      var sources = Array.isArray(turn.citations) ? turn.citations : [];
      if (sources.length) {
        item.appendChild(el("p", { "class": "extra-title" }, "Sources"));
        var list = el("ul", { "class": "extra", "aria-label": "Sources" });
        sources.forEach(function (c) { list.appendChild(el("li")).appendChild(link(c.title, c.url)); });
        item.appendChild(list);
      }
      var products = Array.isArray(turn.products) ? turn.products : [];
      if (products.length) {
        item.appendChild(el("p", { "class": "extra-title" }, "You might like"));
        var cards = el("ul", { "class": "cards", "aria-label": "Suggested products" });
        products.forEach(function (p) { cards.appendChild(card(p)); });
        item.appendChild(cards);
      }
      if (turn.handoff) {
        item.appendChild(el("p", { "class": "handoff", role: "note" }, turn.handoffText ||
          "Handed over to our team: a person will follow up on this."));
      }
      if (turn.turnId && !turn.handoff) item.appendChild(askFeedback(turn));
    }

    // "Did this answer your question?" under an answer: yes, or no with an optional comment;
    // stored per answer (POST /v1/chat/feedback) and asked once.
    function askFeedback(turn) {
      var box = el("div", { "class": "feedback", role: "group",
                            "aria-label": "Feedback on this answer" });
      if (turn.rated) {
        box.textContent = "Thanks for telling us.";
        return box;
      }
      var yes = el("button", { type: "button", "class": "yes" }, "Yes");
      var no = el("button", { type: "button", "class": "no" }, "No");
      box.append(el("span", {}, "Did this answer your question?"), yes, no);
      async function send(helpful, comment) {
        yes.disabled = no.disabled = true;
        try {
          var response = await fetch(FEEDBACK_URL, {
            method: "POST", mode: "cors", credentials: "omit", headers: headers(),
            body: JSON.stringify({ session_id: sessionId, turn_id: turn.turnId,
                                   helpful: helpful, comment: comment || "" })
          });
          if (!response.ok) throw new Error(await httpError(response));
          turn.rated = true;
          saveState();
          box.textContent = "Thanks for telling us.";
        } catch (err) {
          yes.disabled = no.disabled = false;
          box.appendChild(el("p", { "class": "error", role: "alert" }, err.message));
        }
      }
      yes.addEventListener("click", function () { send(true, ""); });
      no.addEventListener("click", function () {
        yes.remove();
        no.remove();
        var comment = el("input", { type: "text", maxlength: "2000", "class": "comment",
                                    "aria-label": "What was missing? (optional)",
                                    placeholder: "What was missing? (optional)" });
        var done = el("button", { type: "button", "class": "send-feedback" }, "Send");
        box.append(comment, done);
        done.addEventListener("click", function () { send(false, comment.value.trim()); });
        comment.focus();
      });
      return box;
    }

    function showTurn(turn) {
      var item = el("div", { "class": "msg " + (turn.role === "user" ? "user" : "assistant") });
      var body = el("p", { "class": "text" }, text(turn.content, MAX_CHARS));
      item.appendChild(body);
      if (turn.role === "assistant") addExtras(item, turn);
      log.appendChild(item);
      scrollDown();
      return { item: item, body: body };
    }

    function showGreeting() {
      log.appendChild(el("div", { "class": "msg assistant greeting" })).appendChild(
        el("p", { "class": "text" }, GREETING));
    }

    function setOpen(open) {
      state.open = open;
      panel.hidden = !open;
      launcher.setAttribute("aria-expanded", String(open));
      saveState();
      if (open) {
        scrollDown();
        input.focus();
      }
    }

    function setBusy(value) {
      busy = value;
      input.disabled = value;
      sendButton.disabled = value;
      log.setAttribute("aria-busy", String(value));
    }

    async function ask(question) {
      var previous = history();
      var asked = { role: "user", content: question };
      state.turns.push(asked);
      saveState();
      showTurn(asked);
      setBusy(true);
      var view = showTurn({ role: "assistant", content: "" });
      view.item.classList.add("pending");
      var streamed = "";
      try {
        var response;
        try {
          response = await fetch(CHAT_URL, {
            method: "POST", mode: "cors", credentials: "omit",
            headers: headers({ "Accept": "text/event-stream" }),
            body: JSON.stringify(sessionId ? { message: question, session_id: sessionId }
                                           : { message: question, history: previous })
          });
        } catch (e) {
          throw new Error("Could not reach the assistant. Check your connection and try again.");
        }
        if (!response.ok) throw new Error(await httpError(response));
        var reply = await readEvents(response.body, function (delta) {
          streamed += delta;
          view.body.textContent = streamed;
          scrollDown();
        }).catch(function (err) {
          if (err && err.fromServer) throw err;
          throw new Error("The answer was interrupted. Please try again.");
        });
        if (!reply) throw new Error("The answer was interrupted. Please try again.");
        keepSession(reply.session_id);
        var turn = toTurn(reply);
        view.body.textContent = turn.content;
        addExtras(view.item, turn);
        state.turns.push(turn);
        saveState();
      } catch (err) {
        view.item.appendChild(el("p", { "class": "error", role: "alert" }, err.message));
      } finally {
        view.item.classList.remove("pending");
        setBusy(false);
        scrollDown();
        input.focus();
      }
    }

    // "Talk to a person": the session is flagged for the shop's team, who pick it up with the
    // whole conversation; the shopper is told what happens next.
    async function handOff() {
      if (busy) return;
      setBusy(true);
      var turn = { role: "assistant", content: "", handoff: true };
      try {
        var response = await fetch(HANDOFF_URL, {
          method: "POST", mode: "cors", credentials: "omit", headers: headers(),
          body: JSON.stringify({ session_id: sessionId })
        });
        if (!response.ok) throw new Error(await httpError(response));
        var body = await response.json();
        keepSession(body.session_id);
        turn.handoffText = text(body.message, 400);
      } catch (err) {
        turn.handoff = false;
        turn.content = err.message || "Could not reach our team. Please try again.";
      }
      state.turns.push(turn);
      saveState();
      showTurn(turn);
      setBusy(false);
      human.focus();
    }

    // Another device or a cleared tab: the conversation comes back from the server.
    async function restore() {
      if (!sessionId || state.turns.length) return;
      try {
        var response = await fetch(SESSION_URL, { mode: "cors", credentials: "omit",
                                                  headers: headers() });
        if (!response.ok) return;
        var body = await response.json();
        (Array.isArray(body.turns) ? body.turns : []).forEach(function (saved) {
          var turn = saved.role === "user"
            ? { role: "user", content: text(saved.content, MAX_CHARS) }
            : toTurn({ answer: saved.content, citations: saved.citations,
                       products: saved.products, handoff: saved.handoff });
          state.turns.push(turn);
          showTurn(turn);
        });
        saveState();
      } catch (e) { /* offline: start with what this tab has */ }
    }

    human.addEventListener("click", handOff);
    launcher.addEventListener("click", function () { setOpen(panel.hidden); });
    close.addEventListener("click", function () {
      setOpen(false);
      launcher.focus();
    });
    reset.addEventListener("click", function () {
      if (busy) return;
      state.turns = [];
      sessionId = GIVEN_SESSION; // a new conversation is a new session (unless the shop's)
      try { localStorage.removeItem(SESSION_KEY); } catch (e) { /* nothing kept */ }
      saveState();
      log.textContent = "";
      showGreeting();
      input.focus();
    });
    root.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !panel.hidden) {
        event.stopPropagation();
        setOpen(false);
        launcher.focus();
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault(); // Enter in the input submits the form
      var question = input.value.trim().slice(0, MAX_CHARS);
      if (!question || busy) return;
      input.value = "";
      ask(question);
    });

    showGreeting();
    state.turns.forEach(showTurn);
    if (state.open) setOpen(true);
    restore();
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
