// The page of `train serve`: send the chosen or dropped photo to POST /predict, draw the answer.
"use strict";

const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
let current = null;  // the File shown
let shownUrl = null;

function colour(label) {
  return config.colours[label] || "#2f7d32";  // the server's colours: the same as in annotated video
}

function status(text, error = false) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", error);
}

async function send(file) {
  current = file;
  const explain = $("explain").checked;
  status(`finding the faces in ${file.name}…`);
  const query = new URLSearchParams({ crops: "1", name: file.name });
  if (explain) query.set("explain", "1");
  let answer, body;
  try {
    answer = await fetch(`/predict?${query}`, {
      method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" } });
    body = await answer.json();
  } catch (err) {
    status(`the server did not answer (${err.message})`, true);
    return;
  }
  if (!answer.ok) {
    $("result").hidden = true;
    status(body.error || `the server answered ${answer.status}`, true);
    return;
  }
  show(file, body);
}

function show(file, body) {
  if (shownUrl) URL.revokeObjectURL(shownUrl);
  shownUrl = URL.createObjectURL(file);
  const img = $("photo");
  $("photo-box").hidden = false;
  img.onload = () => drawBoxes(body);
  img.onerror = () => { $("photo-box").hidden = true; };  // a format this browser cannot show (TIFF): the faces still are
  img.src = shownUrl;
  $("result").hidden = false;
  const n = body.faces.length;
  status(n ? `${file.name}: ${n} face${n > 1 ? "s" : ""} (${Math.round(body.seconds * 1000)} ms on the server)`
           : `${file.name}: no face found. ${body.note || ""}`, n === 0);
  const list = $("faces");
  list.replaceChildren(...body.faces.map((f, i) => faceCard(f, i, body.classes)));
  list.dataset.count = String(n);
}

function drawBoxes(body) {
  const img = $("photo");
  const sx = img.clientWidth / body.width, sy = img.clientHeight / body.height;
  $("boxes").replaceChildren(...body.faces.map((f, i) => {
    const [left, top, w, h] = f.bbox;
    const box = document.createElement("div");
    box.className = "box";
    box.dataset.face = String(i + 1);
    box.style.cssText = `left:${left * sx}px; top:${top * sy}px; width:${w * sx}px; height:${h * sy}px; --c:${colour(f.label)}`;
    const tag = document.createElement("span");
    tag.className = "tag";
    tag.textContent = `${i + 1}: ${f.label} ${Math.round(f.confidence * 100)}%`;
    box.append(tag);
    return box;
  }));
}

function faceCard(f, i, classes) {
  const card = document.createElement("article");
  card.className = "face";
  card.dataset.face = String(i + 1);
  card.dataset.label = f.label;
  card.dataset.bbox = f.bbox.join(",");
  card.style.setProperty("--c", colour(f.label));
  const title = document.createElement("h3");
  title.innerHTML = `Face ${i + 1}: <span class="label"></span> <span class="p"></span>`;
  title.querySelector(".label").textContent = f.label;
  title.querySelector(".p").textContent = `${Math.round(f.confidence * 100)}%`;
  const pic = document.createElement("div");
  const img = document.createElement("img");
  img.src = f.explanation || f.crop || "";
  img.alt = f.explanation ? `what drove "${f.explained}" in face ${i + 1}` : `face ${i + 1} as the model saw it`;
  img.className = f.explanation ? "explanation" : "crop";
  pic.append(img);
  if (f.explanation) {
    const why = document.createElement("div");
    why.className = "why";
    why.textContent = `why ${f.explained}: red drove it most`;
    pic.append(why);
  }
  const bars = document.createElement("div");
  bars.className = "bars";
  for (const k of classes) {
    const p = f.probabilities[k];
    const row = document.createElement("div");
    row.className = "bar-row" + (k === f.label ? " top" : "");
    row.dataset.class = k;
    row.dataset.p = String(p);
    row.innerHTML = `<span class="name"></span><span class="bar"><i></i></span><span class="pct"></span>`;
    row.querySelector(".name").textContent = k;
    row.querySelector(".bar i").style.width = `${(p * 100).toFixed(1)}%`;
    row.querySelector(".pct").textContent = `${Math.round(p * 100)}%`;
    bars.append(row);
  }
  card.append(title, pic, bars);
  return card;
}

$("file").addEventListener("change", (e) => { if (e.target.files[0]) send(e.target.files[0]); });
$("explain").addEventListener("change", () => { if (current) send(current); });
const drop = $("drop");
for (const ev of ["dragenter", "dragover"]) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
for (const ev of ["dragleave", "drop"]) drop.addEventListener(ev, () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  const file = e.dataTransfer.files[0];
  if (file) send(file);
});
window.addEventListener("resize", () => { if (current && $("photo").complete && !$("result").hidden) $("photo").onload(); });

// The API examples name this server.
for (const pre of document.querySelectorAll(".api pre")) pre.textContent = pre.textContent.replaceAll("HOST:PORT", location.host);
