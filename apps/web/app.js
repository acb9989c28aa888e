// The page of `trendoff serve`: reads the query from the URL, asks /api/compare, draws the table and an
// inline SVG grouped bar chart. Handles get suggestions from /api/users. Nothing is fetched from elsewhere.
"use strict";

const DEFAULT_TOP = 20;
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

function say(text, isError) {
  const message = $("message");
  message.textContent = text;
  message.className = isError ? "error" : "";
}

function svgElement(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

// One group per word, two horizontal bars (a above b), scaled to the largest count.
function drawChart(answer) {
  const [userA, userB] = answer.users;
  const rows = answer.top;
  const labelWidth = 140, barArea = 420, valueWidth = 60, barHeight = 10, groupGap = 8, legendHeight = 24;
  const groupHeight = 2 * barHeight + groupGap;
  const height = legendHeight + rows.length * groupHeight + 4;
  const max = Math.max(1, ...rows.flatMap((row) => row.counts));
  const svg = svgElement("svg", {width: labelWidth + barArea + valueWidth, height, role: "img",
                                 "aria-label": `${userA} vs ${userB}: words both use`});
  svg.appendChild(svgElement("title", {}, `${userA} vs ${userB}: words both use`));
  [[userA, "bar-a", 0], [userB, "bar-b", 160]].forEach(([user, cls, x]) => {
    svg.appendChild(svgElement("rect", {x: labelWidth + x, y: 4, width: 12, height: 12, class: `legend ${cls}`}));
    svg.appendChild(svgElement("text", {x: labelWidth + x + 16, y: 14}, user));
  });
  rows.forEach((row, index) => {
    const top = legendHeight + index * groupHeight;
    svg.appendChild(svgElement("text", {x: labelWidth - 6, y: top + barHeight + 4, "text-anchor": "end"}, row.word));
    row.counts.forEach((count, which) => {
      const y = top + which * barHeight;
      const width = Math.max(1, (count / max) * barArea);
      const bar = svgElement("rect", {x: labelWidth, y, width, height: barHeight - 1,
                                      class: `bar ${which === 0 ? "bar-a" : "bar-b"}`, "data-word": row.word,
                                      "data-count": count});
      bar.appendChild(svgElement("title", {}, `${row.word}: ${answer.users[which]} ${count}`));
      svg.appendChild(bar);
      svg.appendChild(svgElement("text", {x: labelWidth + width + 4, y: y + barHeight - 1}, count.toLocaleString("en")));
    });
  });
  $("chart").replaceChildren(svg);
}

function drawTable(answer) {
  $("head-a").textContent = answer.users[0];
  $("head-b").textContent = answer.users[1];
  $("head-a").className = $("head-b").className = "count";
  const body = $("table").tBodies[0];
  body.replaceChildren(...answer.top.map((row) => {
    const tr = document.createElement("tr");
    const word = document.createElement("td");
    word.textContent = row.word;
    tr.appendChild(word);
    row.counts.forEach((count) => {
      const td = document.createElement("td");
      td.className = "count";
      td.textContent = count.toLocaleString("en");
      tr.appendChild(td);
    });
    return tr;
  }));
}

function queryFromUrl() {
  const params = new URLSearchParams(window.location.search);
  return {a: params.get("a") || "", b: params.get("b") || "", top: params.get("top") || ""};
}

async function show(query) {
  $("a").value = query.a;
  $("b").value = query.b;
  $("top").value = query.top || DEFAULT_TOP;
  if (!query.a || !query.b) {
    $("result").hidden = true;
    say("", false);
    return;
  }
  const params = new URLSearchParams({a: query.a, b: query.b});
  if (query.top) params.set("top", query.top);
  say("comparing…", false);
  let answer;
  try {
    const response = await fetch(`/api/compare?${params}`);
    answer = await response.json();
    if (!response.ok) throw new Error(answer.message || `HTTP ${response.status}`);
  } catch (error) {
    $("result").hidden = true;
    say(error.message, true);
    return;
  }
  $("as-of").textContent = answer.as_of ? `batch cutoff T: ${answer.as_of}` : "no batch yet (speed view only)";
  drawTable(answer);
  drawChart(answer);
  $("result").hidden = false;
  say(answer.top.length ? `${answer.top.length} words both use` : "no word is used by both", false);
}

// The URL holds the query, so a comparison can be shared and the back button works.
$("query").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = {a: $("a").value.trim(), b: $("b").value.trim(), top: $("top").value.trim()};
  const params = new URLSearchParams({a: query.a, b: query.b});
  if (query.top && Number(query.top) !== DEFAULT_TOP) params.set("top", query.top);
  else query.top = "";
  history.pushState(null, "", `/?${params}`);
  show(query);
});
window.addEventListener("popstate", () => show(queryFromUrl()));

// Suggestions: the handles starting with what is typed, asked at most every 150 ms per field.
function suggest(input, list) {
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const prefix = input.value.trim();
      if (!prefix) return;
      try {
        const response = await fetch(`/api/users?${new URLSearchParams({prefix})}`);
        if (!response.ok) return;
        const answer = await response.json();
        if (input.value.trim() !== prefix) return;  // a newer keystroke asks again
        list.replaceChildren(...answer.users.map((user) => {
          const option = document.createElement("option");
          option.value = user;
          return option;
        }));
      } catch (error) {
        // suggestions are a convenience: a failed one leaves the field as it is
      }
    }, 150);
  });
}
suggest($("a"), $("users-a"));
suggest($("b"), $("users-b"));

show(queryFromUrl());
