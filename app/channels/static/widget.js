/* Helpline web chat widget: one plain script (ES2019), no framework, no build step, and no request
 * to anyone but the helpline's own server: no CDN, font, analytics or captcha.
 *
 * Embed:  <script src="https://HOST/webchat/widget.js" data-helpline="CODE" async></script>
 * Options (data- attributes on that tag): data-language="fr", data-position="left" (default right),
 * data-open="true" (start open), data-stream="off" (poll instead of streaming), data-mode="page"
 * (full screen, as on /webchat/CODE/).
 *
 * Safety: the quick exit button (and Escape) ends the chat, forgets it and replaces the page with the
 * helpline's neutral exit page, so Back does not return. The session lives in sessionStorage only: no
 * cookies, nothing in localStorage, so closing the tab forgets the chat on a shared device.
 * Stable hooks: data-chat="launcher|start|input|send|exit|end|log"; each message in the log has
 * data-from="visitor|counsellor|system".
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.helpline) return;
  var CODE = script.dataset.helpline;
  var BASE = new URL(script.src, location.href).origin + "/webchat";
  var PAGE = script.dataset.mode === "page";
  var STREAM = script.dataset.stream !== "off";
  var STORE_KEY = "helpline-chat:" + CODE;
  var DEFAULT_EXIT = "https://www.google.com/";
  var POLL_MS = 2000;

  var STRINGS = {
    en: {
      open: "Chat with us", title: "Chat", exit: "Quick exit", exitHint: "Leave this page now (Esc)",
      minimise: "Minimise chat", intro: "Before we start, you can tell us a little about you. Every question is optional.",
      about_self: "Are you contacting us about yourself?", yes: "Yes", no: "No", skip: "Prefer not to say",
      age: "How old are you?", gender: "Your gender", girl: "Girl", boy: "Boy", non_binary: "Non-binary",
      start: "Start chat", input: "Type your message", send: "Send", end: "End chat",
      sending: "Sending…", failed: "Not sent.", retry: "Try again",
      queued: "Thank you for contacting us. A counsellor will be with you soon.",
      position: "You are number {position} in the queue.", active: "A counsellor has joined the chat.",
      goodbye: "The chat has ended. Thank you for contacting us. Take care.",
      abandoned: "We could not reach you. You can contact us again at any time.",
      closed: "The helpline is closed right now. If you are in danger, call your local emergency number.",
      privacy: "This chat is forgotten on this device when you close the tab.",
      offline: "Connection lost. Trying again…", error: "The chat could not start. Please try again.",
      surveyIntro: "Before you go, would you answer a few questions? Every question is optional.",
      surveySend: "Send answers", surveySkip: "No thanks", surveyThanks: "Thank you for your answers.",
      surveyError: "Your answers could not be sent."
    },
    fr: {
      open: "Discuter avec nous", title: "Discussion", exit: "Sortie rapide", exitHint: "Quitter cette page maintenant (Échap)",
      minimise: "Réduire la discussion", intro: "Avant de commencer, tu peux nous dire quelques mots sur toi. Chaque question est facultative.",
      about_self: "Nous contactes-tu pour toi-même ?", yes: "Oui", no: "Non", skip: "Je préfère ne pas répondre",
      age: "Quel âge as-tu ?", gender: "Ton genre", girl: "Fille", boy: "Garçon", non_binary: "Non binaire",
      start: "Commencer", input: "Écris ton message", send: "Envoyer", end: "Terminer la discussion",
      sending: "Envoi…", failed: "Non envoyé.", retry: "Réessayer",
      queued: "Merci de nous avoir contactés. Un·e écoutant·e va bientôt te répondre.",
      position: "Tu es numéro {position} dans la file d'attente.", active: "Un·e écoutant·e a rejoint la discussion.",
      goodbye: "La discussion est terminée. Merci de nous avoir contactés. Prends soin de toi.",
      abandoned: "Nous n'avons pas pu te joindre. Tu peux nous recontacter à tout moment.",
      closed: "La ligne est fermée pour le moment. Si tu es en danger, appelle le numéro d'urgence local.",
      privacy: "Cette discussion est oubliée sur cet appareil quand tu fermes l'onglet.",
      offline: "Connexion perdue. Nouvel essai…", error: "La discussion n'a pas pu commencer. Réessaie.",
      surveyIntro: "Avant de partir, veux-tu répondre à quelques questions ? Chaque question est facultative.",
      surveySend: "Envoyer mes réponses", surveySkip: "Non merci", surveyThanks: "Merci pour tes réponses.",
      surveyError: "Tes réponses n'ont pas pu être envoyées."
    },
    es: {
      open: "Chatea con nosotros", title: "Chat", exit: "Salida rápida", exitHint: "Salir de esta página ahora (Esc)",
      minimise: "Minimizar el chat", intro: "Antes de empezar, puedes contarnos un poco sobre ti. Todas las preguntas son opcionales.",
      about_self: "¿Nos contactas por ti?", yes: "Sí", no: "No", skip: "Prefiero no decirlo",
      age: "¿Cuántos años tienes?", gender: "Tu género", girl: "Chica", boy: "Chico", non_binary: "No binario",
      start: "Empezar el chat", input: "Escribe tu mensaje", send: "Enviar", end: "Terminar el chat",
      sending: "Enviando…", failed: "No enviado.", retry: "Reintentar",
      queued: "Gracias por contactarnos. Un consejero te atenderá pronto.",
      position: "Eres el número {position} en la fila.", active: "Un consejero se ha unido al chat.",
      goodbye: "El chat ha terminado. Gracias por contactarnos. Cuídate.",
      abandoned: "No pudimos contactarte. Puedes escribirnos de nuevo cuando quieras.",
      closed: "La línea está cerrada ahora. Si estás en peligro, llama al número de emergencias local.",
      privacy: "Este chat se olvida en este dispositivo al cerrar la pestaña.",
      offline: "Conexión perdida. Reintentando…", error: "No se pudo iniciar el chat. Inténtalo de nuevo.",
      surveyIntro: "Antes de irte, ¿responderías unas preguntas? Todas son opcionales.",
      surveySend: "Enviar respuestas", surveySkip: "No, gracias", surveyThanks: "Gracias por tus respuestas.",
      surveyError: "No se pudieron enviar tus respuestas."
    }
  };
  var lang = (script.dataset.language || document.documentElement.lang || navigator.language || "en").slice(0, 2).toLowerCase();
  if (!STRINGS[lang]) lang = "en";
  var overrides = {};
  function t(key, values) {
    var text = overrides[key] || STRINGS[lang][key] || STRINGS.en[key];
    Object.keys(values || {}).forEach(function (k) { text = text.replace("{" + k + "}", values[k]); });
    return text;
  }

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:16px;line-height:1.4}",
    "button,input,textarea,select{font:inherit;color:inherit}",
    "button{cursor:pointer;border-radius:6px;border:2px solid #1a4f8b;background:#1a4f8b;color:#fff;padding:8px 14px;min-height:44px}",
    "button.secondary{background:#fff;color:#1a4f8b}",
    "button:focus-visible,input:focus-visible,textarea:focus-visible,select:focus-visible{outline:3px solid #f5a623;outline-offset:2px}",
    ".launcher{position:fixed;bottom:16px;right:16px;z-index:2147483646;border-radius:24px;padding:10px 18px;box-shadow:0 2px 8px rgba(0,0,0,.3)}",
    ".left .launcher{right:auto;left:16px}",
    ".panel{position:fixed;bottom:16px;right:16px;z-index:2147483647;width:380px;max-width:calc(100vw - 16px);height:560px;max-height:calc(100vh - 32px);",
    "background:#fff;color:#1b1b1b;border:1px solid #767676;border-radius:10px;box-shadow:0 4px 16px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden}",
    ".left .panel{right:auto;left:16px}",
    ".page .panel{inset:0;width:100%;max-width:none;height:100%;max-height:none;border:0;border-radius:0;box-shadow:none}",
    "@media (max-width:480px){.panel{inset:0;width:100%;max-width:none;height:100%;max-height:none;border-radius:0}}",
    "[hidden]{display:none!important}",
    "header{display:flex;align-items:center;gap:8px;padding:8px 10px;background:#1a4f8b;color:#fff}",
    "header h2{flex:1;margin:0;font-size:18px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}",
    "header button{border-color:#fff}",
    ".exit{background:#b00020;border-color:#fff;color:#fff;font-weight:700}",
    ".body{flex:1;overflow:auto;padding:12px;display:flex;flex-direction:column;gap:10px}",
    ".privacy{margin:0;padding:6px 12px;font-size:14px;color:#3d3d3d;background:#f2f2f2}",
    "fieldset{border:1px solid #767676;border-radius:6px;margin:0;padding:8px}",
    "legend,label{font-weight:600}",
    ".choices{display:flex;flex-wrap:wrap;gap:8px 14px}.choices label{font-weight:400}",
    "input[type=number]{width:6em;padding:6px;border:1px solid #767676;border-radius:6px}",
    ".log{flex:1;overflow:auto;padding:12px;display:flex;flex-direction:column;gap:8px}",
    ".msg{max-width:85%;padding:8px 12px;border-radius:12px;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".msg[data-from=visitor]{align-self:flex-end;background:#1a4f8b;color:#fff}",
    ".msg[data-from=counsellor]{align-self:flex-start;background:#ececec;color:#1b1b1b}",
    ".msg[data-from=system]{align-self:center;background:none;color:#3d3d3d;font-style:italic;text-align:center}",
    ".msg small{display:block;font-size:13px}",
    ".msg[data-state=failed]{background:#fde7ea;color:#1b1b1b;border:1px solid #b00020}",
    ".msg button{margin-top:4px;min-height:32px;padding:2px 10px}",
    ".compose{display:flex;gap:8px;padding:8px;border-top:1px solid #767676}",
    "textarea{flex:1;resize:none;height:44px;padding:8px;border:1px solid #767676;border-radius:6px}",
    ".survey{display:flex;flex-direction:column;gap:10px;padding:12px;border-top:1px solid #767676;overflow:auto;max-height:60%}",
    ".survey textarea{flex:none;width:100%;height:64px}.survey .actions{display:flex;gap:8px}",
    ".end{margin:0 8px 8px}"
  ].join("\n");

  // --- the session, in sessionStorage only ------------------------------------------------
  function loadSession() {
    try { return JSON.parse(sessionStorage.getItem(STORE_KEY) || "null"); } catch (e) { return null; }
  }
  function saveSession() {
    try { sessionStorage.setItem(STORE_KEY, JSON.stringify(session)); } catch (e) { /* private mode */ }
  }
  function forgetSession() {
    try { sessionStorage.removeItem(STORE_KEY); } catch (e) { /* nothing stored */ }
  }

  var session = loadSession();  // {id, token, seq}
  var config = null;
  var status = null, position = null;
  var seen = {};             // seq -> true: nothing shown twice across reconnects and polling
  var pending = [];          // the visitor's messages not yet confirmed
  var connection = null;     // the stream's AbortController
  var pollTimer = null, failures = 0, stopped = false, leftByVisitor = false;

  // --- elements -------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  var host = el("div", {"data-helpline-chat": CODE});
  var root = host.attachShadow({mode: "open"});
  if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function" && CSSStyleSheet.prototype.replaceSync) {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);  // not an inline <style>: the hosted page's CSP forbids those
    root.adoptedStyleSheets = [sheet];
  } else {
    root.appendChild(el("style", {text: CSS}));
  }
  var frame = el("div", {className: (PAGE ? "page" : "") + (script.dataset.position === "left" ? " left" : "")});
  root.appendChild(frame);

  var launcher = el("button", {type: "button", className: "launcher", "data-chat": "launcher", "aria-expanded": "false", text: t("open")});
  var title = el("h2", {id: "hc-title", text: t("title")});
  var minimise = el("button", {type: "button", className: "secondary", "aria-label": t("minimise"), text: "–"});
  var exitButton = el("button", {type: "button", className: "exit", "data-chat": "exit", title: t("exitHint"), text: t("exit")});
  var privacy = el("p", {className: "privacy", text: t("privacy")});
  var body = el("div", {className: "body"});
  var log = el("div", {className: "log", "data-chat": "log", role: "log", "aria-live": "polite", "aria-label": t("title"), tabindex: "0"});
  var input = el("textarea", {"data-chat": "input", "aria-label": t("input"), placeholder: t("input"), maxlength: "4000"});
  var sendButton = el("button", {type: "button", "data-chat": "send", text: t("send")});
  var compose = el("div", {className: "compose"}, [input, sendButton]);
  var endButton = el("button", {type: "button", className: "secondary end", "data-chat": "end", text: t("end")});
  var panel = el("div", {className: "panel", role: PAGE ? "main" : "dialog", "aria-labelledby": "hc-title"},
    [el("header", {}, [title, PAGE ? null : minimise, exitButton]), privacy, body, log, compose, endButton]);
  panel.hidden = true;
  frame.appendChild(launcher);
  frame.appendChild(panel);

  function show(part) {  // "intro" (form or closed notice) or "chat"
    body.hidden = part !== "intro";
    log.hidden = compose.hidden = endButton.hidden = part !== "chat";
  }

  // --- talking to the server --------------------------------------------------------------
  function api(method, path, payload) {
    var headers = {"Content-Type": "application/json"};
    if (session) headers.Authorization = "Bearer " + session.token;
    return fetch(BASE + path, {method: method, headers: headers, body: payload ? JSON.stringify(payload) : undefined,
      credentials: "omit", referrerPolicy: "no-referrer", cache: "no-store"})
      .then(function (r) {
        if (!r.ok) { var e = new Error("HTTP " + r.status); e.status = r.status; throw e; }
        return r.status === 204 ? null : r.json();
      });
  }

  function loadConfig() {
    if (config) return Promise.resolve(config);
    return api("GET", "/" + encodeURIComponent(CODE) + "/config?language=" + encodeURIComponent(lang)).then(function (c) {
      config = c;
      overrides = {};
      ["queued", "goodbye", "abandoned"].forEach(function (k) { if (c.messages && c.messages[k]) overrides[k] = c.messages[k]; });
      title.textContent = c.helpline.name;
      return c;
    });
  }

  // --- the intro: closed notice, or the pre-survey as a short form --------------------------
  function choice(name, options) {
    return el("div", {className: "choices"}, options.map(function (o) {
      var id = "hc-" + name + "-" + o[0];
      var radio = el("input", {type: "radio", name: name, id: id, value: o[0]});
      return el("label", {"for": id}, [radio, document.createTextNode(" " + o[1])]);
    }));
  }

  function renderIntro() {
    body.textContent = "";
    show("intro");
    if (!config.open) {
      body.appendChild(el("p", {role: "status", "data-chat": "closed", text: config.message || t("closed")}));
      exitButton.focus();
      return;
    }
    var form = el("form", {novalidate: ""});
    var keys = (config.pre_survey && config.pre_survey.enabled ? config.pre_survey.questions : []).map(function (q) { return q.key; });
    if (keys.length) form.appendChild(el("p", {text: t("intro")}));
    keys.forEach(function (key) {
      if (key === "about_self") {
        form.appendChild(el("fieldset", {}, [el("legend", {text: t("about_self")}),
          choice("about_self", [["yes", t("yes")], ["no", t("no")], ["skip", t("skip")]])]));
      } else if (key === "age") {
        form.appendChild(el("div", {}, [el("label", {"for": "hc-age", text: t("age")}), document.createElement("br"),
          el("input", {type: "number", id: "hc-age", name: "age", min: "0", max: "25", inputmode: "numeric"})]));
      } else if (key === "gender") {
        form.appendChild(el("fieldset", {}, [el("legend", {text: t("gender")}),
          choice("gender", [["girl", t("girl")], ["boy", t("boy")], ["non_binary", t("non_binary")], ["unknown", t("skip")]])]));
      }
    });
    var start = el("button", {type: "submit", "data-chat": "start", text: t("start")});
    form.appendChild(start);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      start.disabled = true;
      startChat(answers(form, keys)).catch(function () {
        start.disabled = false;
        body.appendChild(el("p", {role: "alert", text: t("error")}));
      });
    });
    body.appendChild(form);
    (form.querySelector("input") || start).focus();
  }

  function answers(form, keys) {
    var found = {};
    keys.forEach(function (key) {
      if (key === "age") {
        var age = form.querySelector("#hc-age").value.trim();
        if (/^\d{1,2}$/.test(age) && Number(age) <= 25) found.age = Number(age);
        return;
      }
      var picked = form.querySelector("input[name=" + key + "]:checked");
      if (!picked) return;
      if (key === "about_self") { if (picked.value !== "skip") found.about_self = picked.value === "yes"; }
      else found.gender = picked.value;
    });
    return found;
  }

  function startChat(preSurvey) {
    var payload = {language: lang};
    if (Object.keys(preSurvey).length) payload.pre_survey = preSurvey;
    return api("POST", "/" + encodeURIComponent(CODE) + "/sessions", payload).then(function (answer) {
      if (answer.status === "closed") {
        config.open = false;
        config.message = answer.message;
        renderIntro();
        return;
      }
      session = {id: answer.session_id, token: answer.token, seq: 0};
      saveSession();
      enterChat();
    });
  }

  // --- the chat -----------------------------------------------------------------------------
  function enterChat() {
    show("chat");
    stopped = false;
    input.focus();
    connect();
  }

  function addLine(from, text, seq) {
    var line = el("div", {className: "msg", "data-from": from});
    if (seq) line.setAttribute("data-seq", String(seq));
    line.appendChild(document.createTextNode(text));
    log.appendChild(line);
    log.scrollTop = log.scrollHeight;
    return line;
  }

  function receive(item) {
    if (seen[item.seq]) return;
    seen[item.seq] = true;
    if (item.seq > session.seq) { session.seq = item.seq; saveSession(); }
    if (item.from === "visitor") {
      // Our own message, arrived by the stream before the POST answered: confirm that bubble.
      var mine = pending.filter(function (p) { return !p.seq && p.text === item.text; })[0];
      if (mine) { confirm(mine, item.seq); return; }
    }
    addLine(item.from, item.text, item.seq);
  }

  function setStatus(next, nextPosition) {
    var changed = next !== status, moved = nextPosition && nextPosition !== position;
    status = next;
    position = nextPosition || null;
    if (next === "queued" && (changed || moved)) {
      addLine("system", position ? t("position", {position: position}) : t("queued"));
    } else if (changed && next === "active") {
      addLine("system", t("active"));
    } else if (changed && (next === "ended" || next === "closed")) {
      addLine("system", next === "closed" ? (config && config.message) || t("closed") : t("goodbye"));
      finish();
    }
  }

  function finish() {
    stopped = true;
    input.disabled = sendButton.disabled = endButton.disabled = true;
    if (connection) connection.abort();
    clearTimeout(pollTimer);
    forgetSession();  // the token stops working soon anyway: nothing to resume
    if (session && status === "ended" && !leftByVisitor && config && config.post_survey && config.post_survey.enabled) {
      offerSurvey(0);
    }
  }

  // --- the post-contact survey: after a counsellor ended the chat, if the helpline asks one -----
  // The server opens the survey just after it ends the chat, in a transaction of its own (a reaction
  // to the end), so the widget can hear of the end first: "none open" (409) is asked again a few
  // times before it is believed.
  var SURVEY_RETRIES_MS = [500, 1000, 2000, 4000];

  function offerSurvey(attempt) {
    var asked = session;
    api("GET", "/sessions/" + encodeURIComponent(asked.id) + "/post-survey").then(function (answer) {
      if (answer && answer.questions.length && session === asked) renderSurvey(answer.questions);
    }, function (error) {
      // Otherwise the token expired, or the visitor left: nothing to ask.
      if (error.status === 409 && attempt < SURVEY_RETRIES_MS.length && session === asked) {
        setTimeout(function () { offerSurvey(attempt + 1); }, SURVEY_RETRIES_MS[attempt]);
      }
    });
  }

  function surveyField(q, i) {
    var name = "ps-" + i;  // radios get ids hc-ps-<i>-<value> (choice), the text box hc-ps-<i>
    if (q.type === "free") {
      return el("div", {}, [el("label", {"for": "hc-" + name, text: q.prompt}),
        el("textarea", {id: "hc-" + name, name: name, maxlength: "2000"})]);
    }
    var options = q.type === "scale" ? [["1", "1"], ["2", "2"], ["3", "3"], ["4", "4"], ["5", "5"]]
      : [["true", t("yes")], ["false", t("no")]];
    return el("fieldset", {}, [el("legend", {text: q.prompt}), choice(name, options.concat([["", t("skip")]]))]);
  }

  function surveyAnswers(form, questions) {
    var found = {};
    questions.forEach(function (q, i) {
      if (q.type === "free") {
        var text = form.querySelector("#hc-ps-" + i).value.trim();
        if (text) found[q.id] = text;
        return;
      }
      var picked = form.querySelector("input[name=ps-" + i + "]:checked");
      if (!picked || !picked.value) return;
      found[q.id] = q.type === "scale" ? Number(picked.value) : picked.value === "true";
    });
    return found;
  }

  function renderSurvey(questions) {
    var form = el("form", {className: "survey", "data-chat": "survey", novalidate: "", "aria-label": t("surveyIntro")});
    form.appendChild(el("p", {text: t("surveyIntro")}));
    questions.forEach(function (q, i) { form.appendChild(surveyField(q, i)); });
    var submit = el("button", {type: "submit", "data-chat": "survey-send", text: t("surveySend")});
    var skip = el("button", {type: "button", className: "secondary", "data-chat": "survey-skip", text: t("surveySkip")});
    form.appendChild(el("div", {className: "actions"}, [submit, skip]));
    function close(text) {
      form.remove();
      if (text) addLine("system", text);
      session = null;
    }
    skip.addEventListener("click", function () { close(null); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit.disabled = true;
      api("POST", "/sessions/" + encodeURIComponent(session.id) + "/post-survey", {answers: surveyAnswers(form, questions)})
        .then(function (answer) { close(answer.message || t("surveyThanks")); }, function () {
          submit.disabled = false;
          form.appendChild(el("p", {role: "alert", text: t("surveyError")}));
        });
    });
    compose.hidden = endButton.hidden = true;  // the chat is over: room for the form
    panel.insertBefore(form, compose);
    (form.querySelector("input, textarea") || submit).focus();
  }

  function connect() {
    if (stopped) return;
    if (STREAM && failures < 3 && window.ReadableStream && window.AbortController) stream();
    else poll();
  }

  // The visitor stream, read with fetch: EventSource cannot send the session token in a header.
  function stream() {
    connection = new AbortController();
    var headers = {Authorization: "Bearer " + session.token, Accept: "text/event-stream"};
    if (session.seq) headers["Last-Event-ID"] = String(session.seq);
    fetch(BASE + "/sessions/" + encodeURIComponent(session.id) + "/events", {headers: headers, signal: connection.signal,
      credentials: "omit", referrerPolicy: "no-referrer", cache: "no-store"})
      .then(function (response) {
        if (response.status === 204) { setStatus("ended"); return; }
        if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
        var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) return;
            failures = 0;
            buffer += decoder.decode(chunk.value, {stream: true}).replace(/\r\n/g, "\n");
            var end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              frameReceived(buffer.slice(0, end));
              buffer = buffer.slice(end + 2);
            }
            return pump();
          });
        }
        return pump();
      })
      .then(function () { reconnect(false); }, function () { reconnect(true); });
  }

  function frameReceived(text) {
    var type = "message", data = "";
    text.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) type = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data += line.slice(5).trim();
    });
    if (!data) return;
    var value;
    try { value = JSON.parse(data); } catch (e) { return; }
    if (type === "message") receive(value);
    else if (type === "status") setStatus(value.status, value.position);
  }

  function reconnect(failed) {
    if (stopped) return;
    if (failed) failures += 1;
    setTimeout(connect, failed ? 2000 : 500);
  }

  function poll() {
    clearTimeout(pollTimer);
    api("GET", "/sessions/" + encodeURIComponent(session.id) + "/messages?after=" + session.seq).then(function (answer) {
      answer.items.forEach(receive);
      setStatus(answer.status, null);
    }, function (error) {
      if (error.status === 401 || error.status === 404) { setStatus("ended"); }
    }).then(function () {
      if (!stopped) pollTimer = setTimeout(poll, POLL_MS);
    });
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function send() {
    var text = input.value.trim();
    if (!text || stopped) return;
    input.value = "";
    var item = {text: text, id: newId(), seq: 0, line: addLine("visitor", text)};
    pending.push(item);
    deliver(item);
    input.focus();
  }

  function deliver(item) {
    item.line.setAttribute("data-state", "sending");
    var note = el("small", {text: t("sending")});
    item.line.appendChild(note);
    // The same client_message_id on a retry: the server stores the message once.
    api("POST", "/sessions/" + encodeURIComponent(session.id) + "/messages", {text: item.text, client_message_id: item.id})
      .then(function (stored) {
        note.remove();
        seen[stored.seq] = true;
        confirm(item, stored.seq);
      }, function () {
        note.remove();
        item.line.setAttribute("data-state", "failed");
        var retry = el("button", {type: "button", className: "secondary", text: t("retry")});
        var failedNote = el("small", {text: t("failed") + " "}, [retry]);
        retry.addEventListener("click", function () { failedNote.remove(); deliver(item); });
        item.line.appendChild(failedNote);
      });
  }

  function confirm(item, seq) {
    item.seq = seq;
    item.line.setAttribute("data-seq", String(seq));
    item.line.setAttribute("data-state", "sent");
    Array.prototype.forEach.call(item.line.querySelectorAll("small"), function (n) { n.remove(); });
    pending = pending.filter(function (p) { return p !== item; });
  }

  function endChat() {
    if (!session) return;
    leftByVisitor = true;  // the survey follows only a chat the counsellor ended
    api("POST", "/sessions/" + encodeURIComponent(session.id) + "/end").then(function () { setStatus("ended"); },
      function () { setStatus("ended"); });
  }

  // --- quick exit -----------------------------------------------------------------------------
  function quickExit() {
    var target = (config && config.exit_url) || DEFAULT_EXIT;
    if (session) {
      // Fire and forget: keepalive lets the request outlive the page.
      try {
        fetch(BASE + "/sessions/" + encodeURIComponent(session.id) + "/end", {method: "POST", keepalive: true,
          headers: {Authorization: "Bearer " + session.token}, credentials: "omit", referrerPolicy: "no-referrer"})
          .catch(function () {});
      } catch (e) { /* leaving anyway */ }
    }
    stopped = true;
    if (connection) connection.abort();
    forgetSession();
    session = null;
    log.textContent = "";
    location.replace(target);  // replaces this page in history: Back does not return to the chat
  }

  // --- opening and closing ------------------------------------------------------------------
  function openPanel() {
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute("aria-expanded", "true");
    loadConfig().then(function () {
      if (session) enterChat(); else renderIntro();
    }, function () {
      body.textContent = "";
      show("intro");
      body.appendChild(el("p", {role: "alert", text: t("error")}));
    });
  }

  function closePanel() {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  launcher.addEventListener("click", openPanel);
  minimise.addEventListener("click", closePanel);
  exitButton.addEventListener("click", quickExit);
  sendButton.addEventListener("click", send);
  endButton.addEventListener("click", endChat);
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); send(); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && (!panel.hidden || session)) quickExit();
  }, true);

  function mount() {
    if (PAGE) {
      document.documentElement.style.height = "100%";
      document.body.style.margin = "0";
    }
    document.body.appendChild(host);
    if (PAGE || session || script.dataset.open === "true") openPanel();
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
