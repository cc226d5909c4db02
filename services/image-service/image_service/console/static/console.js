/* The IMS console: full-ECS images from CBR backups, over the same AK/SK-signed API the SDKs use.
 *
 * Log in with a tenant's access key and secret key; every request is then signed in this page (signing.js) and
 * sent to image-service (this origin), to the CBR API (the backup list) or to the ECS API (servers.js: Apply for
 * Server and the Servers page) named in config.json. The server decides: the checks below only spare a round
 * trip, and what the server answers is shown as it says it.
 */
(function () {
  "use strict";

  // The development tenants' keys, as the README publishes them; offered only for tenants that config.json marks
  // as development tenants (their keys are the published ones).
  const DEV_HINTS = {
    alpha: { ak: "DEVALPHAAK0000000001", sk: "dev-alpha-secret" },
    beta: { ak: "DEVBETAAK00000000001", sk: "dev-beta-secret" },
  };

  const NAME_RE = /^[A-Za-z0-9\-_. \u4e00-\u9fa5]{1,128}$/;
  const TAG_KEY_RE = /^[A-Za-z0-9\-_.\u4e00-\u9fa5]{1,36}$/;
  const TAG_VALUE_RE = /^[A-Za-z0-9\-_.\u4e00-\u9fa5]{0,43}$/;
  const PROJECT_RE = /^[A-Za-z0-9_-]{1,64}$/;
  const MAX_TAGS = 20;
  const MAX_MEMBERS = 10;
  const STATUS_TEXT = { queued: "Queued", saving: "Saving", active: "Normal", killed: "Failed", deleted: "Deleted" };
  const STATUS_CLASS = { queued: "busy", saving: "busy", active: "ok", killed: "bad", deleted: "bad" };
  const FINAL_JOB = new Set(["SUCCESS", "FAIL"]);

  const state = {
    config: null,
    session: null, // { tenant, ak, sk, projectId }
    tab: "private",
    images: [],
    backups: [],
    jobs: new Map(), // job id -> { label, service ("ims" or "ecs"), onEnd, job, error, started }
    current: null, // the image a dialog works on
    listTimer: null,
  };

  // ---- small DOM helpers -----------------------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function showError(id, message) {
    const node = $(id);
    node.textContent = message || "";
    node.hidden = !message;
  }

  function fieldError(name, message) {
    const node = document.querySelector(`.field-error[data-for="${name}"]`);
    node.textContent = message || "";
    node.hidden = !message;
    return !message;
  }

  /** Check a field again as it is edited, once its error is showing. */
  function recheck(name, problem) {
    const node = document.querySelector(`.field-error[data-for="${name}"]`);
    if (!node.hidden) fieldError(name, problem());
  }

  let toastTimer = null;
  function toast(message) {
    const node = $("toast");
    node.textContent = message;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (node.hidden = true), 5000);
  }

  function when(iso) {
    if (!iso) return "—";
    const date = new Date(iso.endsWith("Z") || iso.includes("+") ? iso : iso + "Z");
    return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  function capitalized(text) {
    return text ? text[0].toUpperCase() + text.slice(1) : text;
  }

  function shortId(id) {
    return id && id.length > 12 ? id.slice(0, 8) + "…" : id || "";
  }

  // ---- the signed API --------------------------------------------------------------------------------------------
  class ApiFailure extends Error {
    constructor(status, code, message) {
      super(`${code}: ${message}`);
      this.status = status;
      this.code = code;
      this.detail = message;
    }
  }

  async function call(method, path, { query, body, base } = {}) {
    const session = state.session;
    if (!session) throw new ApiFailure(401, "CONSOLE", "not logged in");
    const url = new URL(path, base || window.location.origin);
    if (query) {
      url.search = Object.entries(query)
        .filter(([, value]) => value !== undefined && value !== null && value !== "")
        .map(([key, value]) => `${ImsSigning.urlEncode(key)}=${ImsSigning.urlEncode(String(value))}`)
        .join("&");
    }
    const headers = {};
    if (!base) headers["X-Project-Id"] = session.projectId;
    let text;
    if (body !== undefined) {
      text = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    const signed = await ImsSigning.sign({
      method,
      url: url.href,
      headers,
      body: text || "",
      accessKey: session.ak,
      secretKey: session.sk,
    });
    let response;
    try {
      response = await fetch(url.href, { method, headers: signed, body: text, cache: "no-store", credentials: "omit" });
    } catch (exc) {
      throw new ApiFailure(0, "NETWORK", `cannot reach ${url.origin} (${exc.message})`);
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const error = (data && data.error) || {};
      const code = error.code || (data && data.error_code) || String(response.status);
      const message = error.message || (data && data.error_msg) || response.statusText;
      throw new ApiFailure(response.status, code, message);
    }
    return data;
  }

  const ims = (method, path, options = {}) => call(method, path, options);
  const cbr = (method, path, options = {}) => call(method, path, { ...options, base: state.config.cbr_endpoint });
  const ecs = (method, path, options = {}) => call(method, path, { ...options, base: state.config.ecs_endpoint });

  // ---- views -----------------------------------------------------------------------------------------------------
  const VIEWS = ["login", "list", "create", "servers", "server-create"];

  function showView(name) {
    for (const view of VIEWS) $(`${view}-view`).hidden = name !== view;
    $("jobs-panel").hidden = name === "login";
    $("who").hidden = name === "login";
    $("logout").hidden = name === "login";
    $("nav").hidden = name === "login";
    $("nav-images").classList.toggle("active", ["list", "create"].includes(name));
    $("nav-servers").classList.toggle("active", ["servers", "server-create"].includes(name));
  }

  // ---- log in ----------------------------------------------------------------------------------------------------
  function tenantByName(name) {
    return state.config.tenants.find((t) => t.name === name);
  }

  function fillCredentials() {
    const tenant = tenantByName($("login-tenant").value);
    if (!tenant) {
      $("login-hint").textContent = "Enter your access key, your secret key and the ID of your project in this region.";
      return;
    }
    $("login-project").value = tenant.project_id || "";
    const hint = tenant.development ? DEV_HINTS[tenant.name] : null;
    $("login-ak").value = hint ? hint.ak : "";
    $("login-sk").value = hint ? hint.sk : "";
    $("login-hint").textContent = hint
      ? "Development tenant: its published development keys are filled in."
      : "Enter this tenant's access key and secret key.";
  }

  async function login(event) {
    event.preventDefault();
    showError("login-error", "");
    const tenant = $("login-tenant").value;
    const ak = $("login-ak").value.trim();
    const sk = $("login-sk").value;
    const projectId = $("login-project").value.trim();
    if (!ak || !sk || !projectId) {
      showError("login-error", "Enter the access key, the secret key and the project.");
      return;
    }
    state.session = { tenant, ak, sk, projectId };
    $("login-submit").disabled = true;
    try {
      await ims("GET", "/v2/cloudimages", { query: { __imagetype: "private", limit: 1 } });
    } catch (exc) {
      state.session = null;
      showError("login-error", `Log-in failed. ${exc.message}`);
      return;
    } finally {
      $("login-submit").disabled = false;
    }
    $("who").textContent = `${tenant || ak} · project ${projectId}`;
    state.jobs.clear();
    renderJobs();
    showList("private");
  }

  function logout() {
    state.session = null;
    state.images = [];
    state.jobs.clear();
    clearTimeout(state.listTimer);
    $("login-sk").value = "";
    fillCredentials();
    showView("login");
  }

  // ---- the image list --------------------------------------------------------------------------------------------
  function showList(tab) {
    state.tab = tab || state.tab;
    document.querySelectorAll(".tab").forEach((node) => node.classList.toggle("active", node.dataset.tab === state.tab));
    $("list-view").querySelector("h1").textContent = state.tab === "private" ? "Private Images" : "Images Shared with Me";
    $("create-image").hidden = state.tab !== "private";
    showView("list");
    refreshImages();
  }

  async function refreshImages() {
    if (!state.session) return;
    try {
      const data = await ims("GET", "/v2/cloudimages", { query: { __imagetype: state.tab, limit: 500 } });
      state.images = data.images || [];
      showError("list-error", "");
    } catch (exc) {
      showError("list-error", `The image list could not be loaded. ${exc.message}`);
    }
    renderImages();
    scheduleRefresh();
  }

  function scheduleRefresh() {
    clearTimeout(state.listTimer);
    if (!state.session) return;
    const busy =
      state.images.some((image) => STATUS_CLASS[image.status] === "busy") ||
      [...state.jobs.values()].some((entry) => !entry.job || !FINAL_JOB.has(entry.job.status));
    state.listTimer = setTimeout(() => {
      if (!$("list-view").hidden) refreshImages();
      else scheduleRefresh();
    }, busy ? 1000 : 5000);
  }

  function diskTotal(image) {
    return (image.__disks || []).reduce((sum, disk) => sum + (disk.size_gb || 0), 0);
  }

  let renderedImages = "";
  function renderImages() {
    const own = state.tab === "private";
    const signature = JSON.stringify([state.tab, state.images]);
    if (signature === renderedImages) return; // nothing changed: keep the rows (and the focus) as they are
    renderedImages = signature;
    const body = $("images").querySelector("tbody");
    body.replaceChildren();
    for (const image of state.images) {
      const active = image.status === "active";
      const replica = Boolean(image.__replicated_from_region);
      const total = diskTotal(image);
      const status = STATUS_TEXT[image.status] || image.status_display || image.status;
      const ops = [
        el("button", {
          type: "button",
          class: "link op-server",
          disabled: !active,
          text: "Apply for Server",
          onclick: () => window.ImsServers.openCreate(image),
        }),
      ];
      if (own) {
        ops.push(
          el("button", {
            type: "button",
            class: "link op-share",
            disabled: !active,
            title: active ? null : "Only a Normal image can be shared",
            text: "Share",
            onclick: () => openShare(image),
          }),
          el("button", {
            type: "button",
            class: "link op-replicate",
            disabled: !active || replica,
            title: replica ? `A replica (from ${image.__replicated_from_region}) is never replicated again` : null,
            text: "Replicate",
            onclick: () => openReplicate(image),
          }),
          el("button", { type: "button", class: "link op-delete", text: "Delete", onclick: () => openDelete(image) }),
        );
      }
      const system = (image.__disks || []).find((disk) => disk.bootable);
      body.append(
        el(
          "tr",
          { dataset: { imageId: image.id, status: image.status } },
          el(
            "td",
            { class: "name-cell" },
            el("strong", { class: "image-name", text: image.name }),
            el("span", { class: "id", text: image.id }),
          ),
          el("td", { class: "nowrap" }, el("span", { class: `status ${STATUS_CLASS[image.status] || ""}`, text: status })),
          el("td", { text: image.__os_version || image.__os_type || "—" }),
          el(
            "td",
            { class: "nowrap" },
            "Full-ECS image",
            replica ? el("span", { class: "id", text: `replica from ${image.__replicated_from_region}` }) : null,
            own ? null : el("span", { class: "id", text: `owner ${shortId(image.owner)}` }),
          ),
          el(
            "td",
            { class: "nowrap" },
            total ? `${total} GB` : "—",
            system ? el("span", { class: "id", text: `system disk ${system.size_gb} GB` }) : null,
          ),
          el("td", {
            text: image.enterprise_project_id === "0" ? "default" : shortId(image.enterprise_project_id),
            title: image.enterprise_project_id,
          }),
          el("td", { text: when(image.created_at) }),
          el("td", { class: "ops" }, ops),
        ),
      );
    }
    $("images-empty").hidden = state.images.length > 0;
    $("images-empty").textContent = own
      ? "No images yet. Create one from a CBR backup."
      : "No image shared with this project has been accepted.";
  }

  // ---- jobs ------------------------------------------------------------------------------------------------------
  /** Follow a job under Tasks: an IMS job (image-service), or an ECS job (compute-service) with ``service: "ecs"``;
   * ``onEnd`` runs once it has ended (by default the image list is loaded again). */
  function trackJob(jobId, label, { service = "ims", onEnd = null } = {}) {
    state.jobs.set(jobId, { label, service, onEnd, job: null, error: null, started: Date.now() });
    renderJobs();
    pollJob(jobId, 0);
  }

  async function pollJob(jobId, failures) {
    const entry = state.jobs.get(jobId);
    if (!entry || !state.session) return;
    const api = entry.service === "ecs" ? ecs : ims;
    try {
      entry.job = await api("GET", `/v1/${state.session.projectId}/jobs/${jobId}`);
      entry.error = null;
      failures = 0;
    } catch (exc) {
      entry.error = exc.message;
      failures += 1;
    }
    renderJobs();
    if (entry.job && FINAL_JOB.has(entry.job.status)) {
      (entry.onEnd || refreshImages)(entry.job);
      return;
    }
    setTimeout(() => pollJob(jobId, failures), Math.min(1000 * 2 ** failures, 10000));
  }

  /** What an ended ECS job did: the ECSs it made or acted on (its sub-jobs' servers). */
  function ecsDone(entities) {
    const servers = (entities.sub_jobs || []).map((sub) => (sub.entities || {}).server_id).filter(Boolean);
    if (entities.server_id) servers.push(entities.server_id);
    return servers.length ? `ECS ${servers.join(", ")}` : "done";
  }

  let renderedJobs = "";
  function renderJobs() {
    const entries = [...state.jobs.entries()].sort((a, b) => b[1].started - a[1].started);
    const signature = JSON.stringify(entries.map(([id, e]) => [id, e.label, e.job, e.error]));
    if (signature === renderedJobs) return;
    renderedJobs = signature;
    const list = $("jobs");
    list.replaceChildren();
    for (const [jobId, entry] of entries) {
      const job = entry.job;
      const status = job ? job.status : "INIT";
      const entities = (job && job.entities) || {};
      const percent = job ? Number(entities.process_percent ?? (FINAL_JOB.has(status) ? 100 : 0)) : 0;
      const bar = el("span");
      bar.style.width = `${Math.max(0, Math.min(100, percent))}%`;
      let detail = entities.current_task || "";
      if (status === "FAIL") detail = `${job.error_code || "failed"}: ${job.fail_reason || ""}`;
      if (status === "SUCCESS") detail = entities.image_id ? `image ${entities.image_id}` : job.message || ecsDone(entities);
      if (entry.error) detail = entry.error;
      list.append(
        el(
          "li",
          { class: `job ${status}`, dataset: { jobId, status } },
          el(
            "div",
            { class: "job-title" },
            el("span", { class: "job-name", text: entry.label, title: entry.label }),
            el("span", { class: `job-state ${status}`, text: `${status} ${Math.round(percent)}%` }),
          ),
          el("div", { class: "bar" }, bar),
          el("div", { class: "job-detail", text: detail }),
          el("div", { class: "job-detail", text: `job ${jobId}${job && job.job_type ? " · " + job.job_type : ""}` }),
        ),
      );
    }
    $("jobs-empty").hidden = state.jobs.size > 0;
  }

  // ---- validation (the server repeats every check) -----------------------------------------------------------------
  function nameProblem(name) {
    if (!NAME_RE.test(name)) {
      return "Enter 1 to 128 characters: letters, digits, spaces, hyphens (-), underscores (_) and periods (.).";
    }
    if (name.startsWith(" ") || name.endsWith(" ")) return "The name must not start or end with a space.";
    return "";
  }

  function descriptionProblem(text) {
    if ([...text].length > 1024) return "The description can have at most 1024 characters.";
    if (/[\r<>]/.test(text)) return "The description must not contain angle brackets (< >) or carriage returns.";
    return "";
  }

  function tagsOf() {
    return [...document.querySelectorAll("#tags .tag-row")]
      .map((row) => ({ key: row.querySelector(".tag-key").value.trim(), value: row.querySelector(".tag-value").value.trim() }))
      .filter((tag) => tag.key || tag.value);
  }

  function tagsProblem(tags) {
    if (tags.length > MAX_TAGS) return `At most ${MAX_TAGS} tags.`;
    const keys = new Set();
    for (const tag of tags) {
      if (!TAG_KEY_RE.test(tag.key)) return `Tag key "${tag.key}": 1 to 36 letters, digits, -, _ or . are allowed.`;
      if (!TAG_VALUE_RE.test(tag.value)) return `Tag value "${tag.value}": up to 43 letters, digits, -, _ or . are allowed.`;
      if (keys.has(tag.key)) return `Tag key "${tag.key}" is given twice.`;
      keys.add(tag.key);
    }
    return "";
  }

  // ---- create a full-ECS image -----------------------------------------------------------------------------------
  function addTagRow(key = "", value = "") {
    if (document.querySelectorAll("#tags .tag-row").length >= MAX_TAGS) {
      fieldError("tags", `At most ${MAX_TAGS} tags.`);
      return;
    }
    const row = el(
      "div",
      { class: "tag-row" },
      el("input", { class: "tag-key", placeholder: "Tag key", "aria-label": "Tag key", spellcheck: "false" }),
      el("input", { class: "tag-value", placeholder: "Tag value", "aria-label": "Tag value", spellcheck: "false" }),
      el("button", { type: "button", class: "link", text: "Delete", onclick: () => row.remove() }),
    );
    row.querySelector(".tag-key").value = key;
    row.querySelector(".tag-value").value = value;
    $("tags").append(row);
  }

  function createStep(step) {
    $("create-configure").hidden = step !== 1;
    $("create-confirm").hidden = step !== 2;
    $("step-1").classList.toggle("current", step === 1);
    $("step-2").classList.toggle("current", step === 2);
    $("create-next").hidden = step !== 1;
    $("create-previous").hidden = step !== 2;
    $("create-submit").hidden = step !== 2;
  }

  function openCreate() {
    $("create-form").reset();
    $("tags").replaceChildren();
    addTagRow();
    document.querySelectorAll(".field-error").forEach((node) => (node.hidden = true));
    showError("create-error", "");
    $("description-count").textContent = "0";
    const region = $("create-region");
    region.replaceChildren(
      ...state.config.regions.map((r) =>
        el("option", {
          value: r.id,
          disabled: r.id !== state.config.region,
          text: r.id === state.config.region ? `${r.name} (${r.id})` : `${r.name} (${r.id}) — its own console`,
        }),
      ),
    );
    region.value = state.config.region;
    const tenant = tenantByName(state.session.tenant);
    $("create-enterprise").replaceChildren(
      el("option", { value: "0", text: "default" }),
      ...((tenant && tenant.enterprise_projects) || []).map((id) => el("option", { value: id, text: id })),
    );
    createStep(1);
    showView("create");
    loadBackups();
  }

  async function loadBackups() {
    const body = $("backups").querySelector("tbody");
    $("backups-note").textContent = "Loading the ECS backups of this project…";
    try {
      const data = await cbr("GET", `/v3/${state.session.projectId}/backups`, {
        query: { resource_type: "OS::Nova::Server", limit: 1000 },
      });
      state.backups = data.backups || [];
      $("backups-note").textContent = "ECS backups of this project, from the CBR service. One backup makes one image.";
    } catch (exc) {
      state.backups = [];
      $("backups-note").textContent = `The backups could not be loaded from ${state.config.cbr_endpoint}. ${exc.message}`;
    }
    const chosen = selectedBackupId();
    body.replaceChildren();
    for (const backup of state.backups) {
      const used = ((backup.extend_info || {}).os_images_data || []).map((d) => d.image_id).filter(Boolean);
      const usable = backup.status === "available" && used.length === 0;
      const radio = el("input", {
        type: "radio",
        name: "backup",
        value: backup.id,
        disabled: !usable,
        "aria-label": `Backup ${backup.name}`,
      });
      radio.checked = usable && backup.id === chosen;
      const row = el(
        "tr",
        { dataset: { backupId: backup.id }, class: radio.checked ? "selected" : null },
        el("td", {}, radio),
        el("td", {}, el("strong", { text: backup.name || "—" }), el("span", { class: "id", text: backup.id })),
        el("td", { text: backup.status }),
        el("td", { text: backup.resource_name || backup.resource_id }),
        el("td", { text: `${backup.resource_size} GB` }),
        el("td", { text: when(backup.created_at) }),
        el("td", { text: used.length ? shortId(used[0]) : "—", title: used.length ? `already used by image ${used[0]}` : null }),
      );
      row.addEventListener("click", () => {
        if (radio.disabled) return;
        radio.checked = true;
        body.querySelectorAll("tr").forEach((tr) => tr.classList.toggle("selected", tr === row));
        fieldError("backup", "");
      });
      body.append(row);
    }
    $("backups-empty").hidden = state.backups.length > 0;
  }

  function selectedBackupId() {
    const radio = document.querySelector('#backups input[name="backup"]:checked');
    return radio ? radio.value : null;
  }

  function validateConfigure() {
    const name = $("create-name").value;
    const description = $("create-description").value;
    const tags = tagsOf();
    let ok = fieldError("backup", selectedBackupId() ? "" : "Select a cloud server backup.");
    ok = fieldError("name", nameProblem(name)) && ok;
    ok = fieldError("description", descriptionProblem(description)) && ok;
    ok = fieldError("tags", tagsProblem(tags)) && ok;
    return ok ? { name, description, tags, backup_id: selectedBackupId() } : null;
  }

  function createNext() {
    showError("create-error", "");
    const values = validateConfigure();
    if (!values) return;
    const backup = state.backups.find((b) => b.id === values.backup_id) || {};
    const enterprise = $("create-enterprise").value;
    const rows = [
      ["Region", `${state.config.region_name} (${state.config.region})`],
      ["Type", "Full-ECS image"],
      ["Source", `Cloud server backup ${backup.name || ""} (${values.backup_id})`],
      ["ECS", backup.resource_name || backup.resource_id || "—"],
      ["Name", values.name],
      ["Enterprise project", enterprise === "0" ? "default" : enterprise],
      ["Tags", values.tags.length ? values.tags.map((t) => `${t.key}=${t.value}`).join(", ") : "—"],
      ["Description", values.description || "—"],
    ];
    $("create-summary")
      .querySelector("tbody")
      .replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v }))));
    fieldError("agreement", "");
    createStep(2);
  }

  async function createSubmit(event) {
    event.preventDefault();
    if ($("create-confirm").hidden) return createNext();
    showError("create-error", "");
    const values = validateConfigure();
    if (!values) return createStep(1);
    if (!fieldError("agreement", $("create-agreement").checked ? "" : "Read and agree to the statement and the disclaimer first.")) {
      return;
    }
    const body = {
      name: values.name,
      backup_id: values.backup_id,
      whole_image_type: "CBR",
      description: values.description,
      enterprise_project_id: $("create-enterprise").value,
      image_tags: values.tags,
    };
    $("create-submit").disabled = true;
    try {
      const answer = await ims("POST", "/v1/cloudimages/wholeimages/action", { body });
      trackJob(answer.job_id, `Create full-ECS image ${values.name}`);
      toast(`Creating ${values.name}: follow the job under Tasks.`);
      showList("private");
    } catch (exc) {
      showError("create-error", `The image was not created. ${exc.message}`);
    } finally {
      $("create-submit").disabled = false;
    }
  }

  // ---- Share -----------------------------------------------------------------------------------------------------
  async function loadMembers(image) {
    const body = $("share-members").querySelector("tbody");
    try {
      const data = await ims("GET", `/v2/images/${image.id}/members`);
      const members = data.members || [];
      body.replaceChildren(
        ...members.map((m) =>
          el(
            "tr",
            { dataset: { memberId: m.member_id } },
            el("td", { text: m.member_id }),
            el("td", { class: "member-status", text: m.status }),
            el("td", { text: when(m.updated_at) }),
          ),
        ),
      );
      if (!members.length) body.append(el("tr", {}, el("td", { colspan: "3", class: "muted", text: "Not shared yet." })));
      return members;
    } catch (exc) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: "3", class: "error", text: exc.message })));
      return [];
    }
  }

  function openShare(image) {
    state.current = image;
    $("share-image").textContent = `${image.name} (${image.id})`;
    $("share-projects").value = "";
    showError("share-error", "");
    const others = state.config.tenants.filter((t) => t.name !== state.session.tenant && t.project_id);
    $("share-suggestions").replaceChildren(
      ...others.map((t) =>
        el("button", {
          type: "button",
          text: `${t.name} · ${shortId(t.project_id)}`,
          title: t.project_id,
          onclick: () => {
            const box = $("share-projects");
            const ids = box.value.split(/[\s,;]+/).filter(Boolean);
            if (!ids.includes(t.project_id)) box.value = [...ids, t.project_id].join("\n");
          },
        }),
      ),
    );
    loadMembers(image);
    $("share-dialog").showModal();
  }

  async function shareSubmit(event) {
    event.preventDefault();
    const image = state.current;
    const ids = [...new Set($("share-projects").value.split(/[\s,;]+/).filter(Boolean))];
    showError("share-error", "");
    if (!ids.length) return showError("share-error", "Enter at least one project ID.");
    const bad = ids.find((id) => !PROJECT_RE.test(id));
    if (bad) return showError("share-error", `"${bad}" is not a project ID.`);
    if (ids.includes(state.session.projectId)) return showError("share-error", "An image is not shared with its own project.");
    const current = $("share-members").querySelectorAll("tr[data-member-id]").length;
    if (current + ids.length > MAX_MEMBERS) {
      return showError("share-error", `A full-ECS image can be shared with at most ${MAX_MEMBERS} projects.`);
    }
    $("share-submit").disabled = true;
    try {
      const answer = await ims("POST", "/v1/cloudimages/members", { body: { images: [image.id], projects: ids } });
      trackJob(answer.job_id, `Share ${image.name} with ${ids.length} project${ids.length > 1 ? "s" : ""}`);
      $("share-projects").value = "";
      toast(`${image.name} shared: each project must accept it.`);
      await loadMembers(image);
    } catch (exc) {
      showError("share-error", `Not shared. ${exc.message}`);
    } finally {
      $("share-submit").disabled = false;
    }
  }

  // ---- Replicate -------------------------------------------------------------------------------------------------
  function openReplicate(image) {
    state.current = image;
    $("replicate-image").textContent = `${image.name} (${image.id})`;
    const destinations = state.config.replication_destinations;
    $("replicate-region").replaceChildren(
      ...(destinations.length
        ? destinations.map((d) => el("option", { value: d.id, text: `${d.name} (${d.id})` }))
        : [el("option", { value: "", text: `No replication route from ${state.config.region}` })]),
    );
    $("replicate-submit").disabled = !destinations.length;
    const target = destinations.length ? destinations[0].id : state.config.region;
    $("replicate-name").value = `copy_${target}_${image.name}`.slice(0, 128);
    $("replicate-vault").value = "";
    $("replicate-description").value = image.__description || "";
    showError("replicate-error", "");
    $("replicate-dialog").showModal();
  }

  async function replicateSubmit(event) {
    event.preventDefault();
    const image = state.current;
    const name = $("replicate-name").value;
    const region = $("replicate-region").value;
    const vault = $("replicate-vault").value.trim();
    const description = $("replicate-description").value;
    const problem =
      nameProblem(name) ||
      (region ? "" : "Choose the destination region.") ||
      (vault ? "" : "Enter the vault ID of the destination region: it receives the copy of the image's backup.") ||
      descriptionProblem(description);
    showError("replicate-error", problem);
    if (problem) return;
    $("replicate-submit").disabled = true;
    try {
      const answer = await ims("POST", `/v1/cloudimages/${image.id}/cross_region_copy`, {
        body: { name, region, project_name: region, vault_id: vault, description },
      });
      trackJob(answer.job_id, `Replicate ${image.name} to ${region}`);
      $("replicate-dialog").close();
      toast(`Replicating ${image.name} to ${region}.`);
    } catch (exc) {
      showError("replicate-error", `Not replicated. ${exc.message}`);
    } finally {
      $("replicate-submit").disabled = false;
    }
  }

  // ---- Delete ----------------------------------------------------------------------------------------------------
  function openDelete(image) {
    state.current = image;
    $("delete-image").textContent = `Delete the image ${image.name} (${image.id})?`;
    $("delete-backup").checked = false;
    $("delete-backup-id").textContent = image.__backup_id || "—";
    showError("delete-error", "");
    $("delete-dialog").showModal();
  }

  async function deleteSubmit(event) {
    event.preventDefault();
    const image = state.current;
    const deleteBackup = $("delete-backup").checked;
    $("delete-submit").disabled = true;
    try {
      await ims("DELETE", `/v2/images/${image.id}`, { body: { delete_backup: deleteBackup } });
      $("delete-dialog").close();
      toast(deleteBackup ? `${image.name} deleted, and its CBR backup with it.` : `${image.name} deleted; its backup stays.`);
      await refreshImages();
    } catch (exc) {
      showError("delete-error", `Not deleted. ${exc.message}`);
    } finally {
      $("delete-submit").disabled = false;
    }
  }

  // ---- start -----------------------------------------------------------------------------------------------------
  function wire() {
    $("login-form").addEventListener("submit", login);
    $("login-tenant").addEventListener("change", fillCredentials);
    $("logout").addEventListener("click", logout);
    $("refresh").addEventListener("click", () => refreshImages());
    $("create-image").addEventListener("click", openCreate);
    document.querySelectorAll(".tab").forEach((node) => node.addEventListener("click", () => showList(node.dataset.tab)));
    $("backups-refresh").addEventListener("click", loadBackups);
    $("add-tag").addEventListener("click", () => addTagRow());
    $("create-description").addEventListener("input", (e) => {
      $("description-count").textContent = String([...e.target.value].length);
      recheck("description", () => descriptionProblem(e.target.value));
    });
    $("create-name").addEventListener("input", (e) => recheck("name", () => nameProblem(e.target.value)));
    $("tags").addEventListener("input", () => recheck("tags", () => tagsProblem(tagsOf())));
    $("create-agreement").addEventListener("change", () => recheck("agreement", () => ""));
    $("create-next").addEventListener("click", createNext);
    $("create-previous").addEventListener("click", () => createStep(1));
    $("create-cancel").addEventListener("click", () => showList("private"));
    $("create-form").addEventListener("submit", createSubmit);
    $("share-form").addEventListener("submit", shareSubmit);
    $("share-cancel").addEventListener("click", () => $("share-dialog").close());
    $("replicate-form").addEventListener("submit", replicateSubmit);
    $("replicate-cancel").addEventListener("click", () => $("replicate-dialog").close());
    $("delete-form").addEventListener("submit", deleteSubmit);
    $("delete-cancel").addEventListener("click", () => $("delete-dialog").close());
    $("nav-images").addEventListener("click", () => showList());
    $("nav-servers").addEventListener("click", () => window.ImsServers.showServers());
    window.ImsServers.wire();
  }

  async function start() {
    wire();
    try {
      const response = await fetch("config.json", { cache: "no-store" });
      state.config = await response.json();
    } catch (exc) {
      showError("login-error", `The console configuration could not be loaded (${exc.message}).`);
      return;
    }
    $("region-label").textContent = `${state.config.region_name} · ${state.config.region}`;
    // Only a service in development mode lists its tenants; otherwise the project id is typed in with the keys.
    const tenants = (state.config.tenants = state.config.tenants || []);
    $("login-tenant").replaceChildren(...tenants.map((t) => el("option", { value: t.name, text: t.name })));
    $("login-tenant").hidden = $("login-tenant-label").hidden = !tenants.length;
    fillCredentials();
    showView("login");
    document.body.dataset.ready = "true";
  }

  // What servers.js (Apply for Server, the Servers page) shares with this file.
  window.ImsConsole = {
    state,
    $,
    el,
    ims,
    ecs,
    showError,
    fieldError,
    toast,
    when,
    shortId,
    capitalized,
    showView,
    trackJob,
    STATUS_TEXT,
  };
  document.addEventListener("DOMContentLoaded", start);
})();
