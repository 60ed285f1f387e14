// "Talk to your receptionist": a WebRTC call from this page to the node (see pages_tryit.py).
// The call's objects are on window.frontdeskTryit for tests (remote stream, click time).
(function () {
  "use strict";
  const box = document.querySelector("[data-tryit]");
  if (!box) return;
  const start = box.querySelector("[data-tryit-start]");
  const stop = box.querySelector("[data-tryit-stop]");
  const status = box.querySelector("[data-tryit-status]");
  const player = box.querySelector("audio");
  const url = box.getAttribute("data-tryit");
  const chatForm = box.querySelector("[data-chat]");
  const chatLog = box.querySelector("[data-chat-log]");
  const history = [];
  let state = null;

  function csrf() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  function say(text) {
    status.textContent = text;
  }

  function gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      const done = function () {
        if (pc.iceGatheringState === "complete") resolve();
      };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 3000); // host candidates are enough on the same network
    });
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body || {}),
    });
  }

  function ended(text) {
    if (state && state.pc) state.pc.close();
    if (state && state.mic) state.mic.getTracks().forEach(function (t) { t.stop(); });
    state = null;
    start.hidden = false;
    stop.hidden = true;
    say(text);
  }

  start.addEventListener("click", async function () {
    const clickedAt = performance.now();
    start.hidden = true;
    say("Calling…");
    try {
      const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
      const pc = new RTCPeerConnection();
      state = { pc: pc, mic: mic, callId: null };
      const remote = new MediaStream();
      window.frontdeskTryit = { pc: pc, remote: remote, clickedAt: clickedAt, callId: null };
      pc.addEventListener("track", function (event) {
        remote.addTrack(event.track);
        player.srcObject = remote;
        player.play().catch(function () {});
        document.dispatchEvent(new CustomEvent("frontdesk:tryit-audio"));
      });
      pc.addEventListener("connectionstatechange", function () {
        if (pc.connectionState === "connected") say("Connected: speak now.");
        if (state && state.pc === pc && ["failed", "closed"].includes(pc.connectionState)) {
          ended("The call ended.");
        }
      });
      mic.getTracks().forEach(function (t) { pc.addTrack(t, mic); });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const response = await post(url, { sdp: pc.localDescription.sdp });
      const answer = await response.json();
      if (!response.ok) {
        ended(answer.detail || "The call could not be placed.");
        return;
      }
      state.callId = answer.call_id;
      window.frontdeskTryit.callId = answer.call_id;
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      stop.hidden = false;
    } catch (error) {
      ended("The call could not be placed: " + (error && error.message ? error.message : error));
    }
  });

  function line(role, text) {
    const item = document.createElement("li");
    item.className = "chat-" + role;
    const who = document.createElement("strong");
    who.textContent = role === "user" ? "You: " : "Receptionist: ";
    item.appendChild(who);
    item.appendChild(document.createTextNode(text));
    chatLog.appendChild(item);
  }

  chatForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    const input = chatForm.querySelector("input[name=text]");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    line("user", text);
    try {
      const response = await post(chatForm.getAttribute("data-chat"), {
        text: text,
        history: history.slice(-40),
      });
      const body = await response.json();
      const reply = response.ok ? body.reply : body.detail || "The receptionist did not answer.";
      line("assistant", typeof reply === "string" ? reply : "The message could not be sent.");
      if (response.ok) {
        history.push({ role: "user", text: text }, { role: "assistant", text: body.reply });
      }
    } catch (error) {
      line("assistant", "The message could not be sent.");
    }
  });

  stop.addEventListener("click", async function () {
    const callId = state && state.callId;
    stop.hidden = true;
    // the node ends the call first (reason "caller hung up"), then the page closes its side
    if (callId) await post(url + "/" + encodeURIComponent(callId) + "/hangup").catch(function () {});
    ended("You hung up.");
  });
})();
