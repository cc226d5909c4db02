/* ECSs in the IMS console: Apply for Server (a new ECS from an image, with every disk of the image) and the
 * Servers page (the project's ECSs with their disks, power actions, Change OS, Delete), over the ECS and EVS APIs
 * of compute-service, signed like every other call of the console (console.js). The server decides: the size
 * check below only spares a round trip.
 */
(function () {
  "use strict";

  const C = window.ImsConsole;
  const { $, el, state } = C;

  // compute-service's volume types (domain.VOLUME_TYPES); an image's own type is offered even if it is not listed.
  const VOLUME_TYPES = ["SATA", "SAS", "SSD", "GPSSD", "ESSD", "GPSSD2", "ESSD2"];
  const SERVER_NAME_RE = /^[A-Za-z0-9\-_.\u4e00-\u9fa5]{1,64}$/;
  const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
  const SERVER_STATUS = { BUILD: "Creating", ACTIVE: "Running", SHUTOFF: "Stopped", REBUILD: "Changing OS", ERROR: "Faulty" };
  const SERVER_CLASS = { BUILD: "busy", ACTIVE: "ok", SHUTOFF: "off", REBUILD: "busy", ERROR: "bad" };

  const ecsState = {
    image: null, // the image of the creation form, as GlanceShowImage answers
    disks: [], // the image's disks: { role, device, size_gb, volume_type }
    servers: [],
    volumes: new Map(), // volume id -> EVS volume
    current: null, // the ECS a dialog works on
    timer: null,
  };

  const project = () => state.session.projectId;

  // ---- Apply for Server ------------------------------------------------------------------------------------------
  function imageDisks(image) {
    const plan = (image.__provisioning || {}).create_server || {};
    const system = (plan.system_disk || []).map((d) => ({ ...d, role: "System disk" }));
    const data = (plan.data_disks || []).map((d) => ({ ...d, role: "Data disk" }));
    if (system.length) return [...system, ...data];
    // A public image: its system disk, at least its minimum size.
    return [{ role: "System disk", device: "/dev/vda", size_gb: image.min_disk || 40, volume_type: "SSD" }];
  }

  function typeSelect(chosen) {
    const types = VOLUME_TYPES.includes(chosen) ? VOLUME_TYPES : [chosen, ...VOLUME_TYPES];
    return el(
      "select",
      { class: "disk-type" },
      types.map((t) => el("option", { value: t, text: t, selected: t === chosen })),
    );
  }

  function diskRow(disk, index) {
    return el(
      "tr",
      { dataset: { disk: String(index), device: disk.device || "" } },
      el("td", { class: "disk-role", text: disk.role }),
      el("td", { class: "disk-device", text: disk.device || "—" }),
      el(
        "td",
        {},
        el("input", {
          class: "disk-size",
          type: "number",
          min: String(disk.size_gb),
          step: "1",
          value: String(disk.size_gb),
          "aria-label": `${disk.role} ${disk.device || ""} size in GB`,
        }),
      ),
      el("td", {}, typeSelect(disk.volume_type || "SSD")),
      el("td", { class: "muted", text: `${disk.size_gb} GB ${disk.volume_type || ""}` }),
    );
  }

  async function loadFlavors(minRamMb) {
    const select = $("server-flavor");
    select.replaceChildren(el("option", { value: "", text: "Loading flavors…" }));
    try {
      const data = await C.ecs("GET", `/v1/${project()}/cloudservers/flavors`);
      const flavors = (data.flavors || []).filter((f) => Number(f.ram) >= (minRamMb || 0));
      select.replaceChildren(
        ...flavors.map((f) => el("option", { value: f.id, text: `${f.name} · ${f.vcpus} vCPUs · ${Number(f.ram) / 1024} GiB` })),
      );
      C.fieldError("server-flavor", flavors.length ? "" : "No flavor of this region has the memory the image needs.");
    } catch (exc) {
      select.replaceChildren();
      C.fieldError("server-flavor", `The flavors could not be loaded. ${exc.message}`);
    }
  }

  async function openCreate(image) {
    C.showView("server-create");
    C.showError("server-error", "");
    ["server-name", "server-flavor", "server-network", "server-disks"].forEach((f) => C.fieldError(f, ""));
    $("server-disks").querySelector("tbody").replaceChildren();
    $("server-image").querySelector("tbody").replaceChildren(el("tr", {}, el("td", { class: "muted", text: "Loading the image…" })));
    $("server-submit").disabled = true;
    let full;
    try {
      full = await C.ims("GET", `/v2/images/${image.id}`);
    } catch (exc) {
      C.showError("server-error", `The image could not be loaded. ${exc.message}`);
      return;
    }
    ecsState.image = full;
    ecsState.disks = imageDisks(full);
    const plan = full.__provisioning || {};
    const rows = [
      ["Image", `${full.name} (${full.id})`],
      ["OS", full.__os_version || full.__os_type || "—"],
      ["Type", full.__whole_image === "true" ? "Full-ECS image: a new ECS gets every disk of the image" : "Public image"],
    ];
    $("server-image")
      .querySelector("tbody")
      .replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: v }))));
    $("server-name").value = `ecs-${full.name}`.replace(/[^A-Za-z0-9\-_.\u4e00-\u9fa5]/g, "-").slice(0, 64);
    $("server-vpc").value = $("server-vpc").value || "vpc-default";
    $("server-subnet").value = $("server-subnet").value || "subnet-default";
    $("server-disks").querySelector("tbody").replaceChildren(...ecsState.disks.map(diskRow));
    const change = plan.change_os || {};
    $("server-note").textContent = change.note ? C.capitalized(change.note) + "." : "";
    $("server-note").hidden = !change.note;
    await loadFlavors(full.min_ram || 0);
    $("server-submit").disabled = false;
  }

  /** The disks as entered; a size below the image's is refused here, as compute-service would (Ecs.0023). */
  function enteredDisks() {
    const rows = [...$("server-disks").querySelectorAll("tbody tr")];
    const problems = [];
    const disks = rows.map((row, i) => {
      const image = ecsState.disks[i];
      const text = row.querySelector(".disk-size").value.trim();
      const size = Number(text);
      const label = `${image.role} ${image.device || ""}`.trim();
      let problem = "";
      if (!/^\d+$/.test(text)) problem = `${label}: enter a size in GB.`;
      else if (size < image.size_gb) {
        problem = `${label}: ${size} GB is smaller than the image's ${image.size_gb} GB. A disk may grow, never shrink.`;
      }
      if (problem) problems.push(problem);
      row.classList.toggle("invalid", Boolean(problem));
      return { volumetype: row.querySelector(".disk-type").value, size };
    });
    C.fieldError("server-disks", problems.join(" "));
    return problems.length ? null : disks;
  }

  async function createSubmit(event) {
    event.preventDefault();
    C.showError("server-error", "");
    const image = ecsState.image;
    if (!image) return;
    const name = $("server-name").value.trim();
    const flavor = $("server-flavor").value;
    const vpc = $("server-vpc").value.trim();
    const subnet = $("server-subnet").value.trim();
    let ok = C.fieldError("server-name", SERVER_NAME_RE.test(name) ? "" : "Enter 1 to 64 letters, digits, -, _ or .");
    ok = C.fieldError("server-flavor", flavor ? "" : "Choose a flavor.") && ok;
    ok = C.fieldError("server-network", ID_RE.test(vpc) && ID_RE.test(subnet) ? "" : "Enter the VPC ID and the subnet ID.") && ok;
    const disks = enteredDisks();
    if (!ok || !disks) return;
    const body = {
      server: {
        imageRef: image.id,
        flavorRef: flavor,
        name,
        vpcid: vpc,
        nics: [{ subnet_id: subnet }],
        root_volume: disks[0],
        data_volumes: disks.slice(1),
        count: 1,
      },
    };
    $("server-submit").disabled = true;
    try {
      const answer = await C.ecs("POST", `/v1/${project()}/cloudservers`, { body });
      C.trackJob(answer.job_id, `Create ECS ${name}`, { service: "ecs", onEnd: () => refreshServers() });
      C.toast(`Creating ECS ${name} from ${image.name}: follow the job under Tasks.`);
      showServers();
    } catch (exc) {
      C.showError("server-error", `The ECS was not created. ${exc.message}`);
    } finally {
      $("server-submit").disabled = false;
    }
  }

  // ---- the Servers page ------------------------------------------------------------------------------------------
  function showServers() {
    C.showView("servers");
    refreshServers();
  }

  async function refreshServers() {
    if (!state.session) return;
    try {
      const [servers, volumes] = await Promise.all([
        C.ecs("GET", `/v1/${project()}/cloudservers/detail`, { query: { limit: 1000 } }),
        C.ecs("GET", `/v2/${project()}/cloudvolumes/detail`, { query: { limit: 1000 } }),
      ]);
      ecsState.servers = servers.servers || [];
      ecsState.volumes = new Map((volumes.volumes || []).map((v) => [v.id, v]));
      C.showError("servers-error", "");
    } catch (exc) {
      C.showError("servers-error", `The ECS list could not be loaded. ${exc.message}`);
    }
    renderServers();
    scheduleRefresh();
  }

  function scheduleRefresh() {
    clearTimeout(ecsState.timer);
    if (!state.session || $("servers-view").hidden) return;
    const busy = ecsState.servers.some((s) => SERVER_CLASS[s.status] === "busy");
    ecsState.timer = setTimeout(refreshServers, busy ? 1000 : 5000);
  }

  function disksOf(server) {
    const attached = server["os-extended-volumes:volumes_attached"] || [];
    return attached
      .map((a) => ({ ...(ecsState.volumes.get(a.id) || { id: a.id }), device: a.device, boot: a.bootIndex === "0" }))
      .sort((a, b) => (a.device || "").localeCompare(b.device || ""));
  }

  function diskLine(disk) {
    const role = disk.boot ? "System disk" : "Data disk";
    const size = disk.size ? `${disk.size} GB` : "—";
    return el(
      "div",
      { class: "disk", dataset: { volumeId: disk.id, device: disk.device || "" } },
      `${role} ${disk.device || ""} · `,
      el("span", { class: "disk-size", text: size }),
      ` · ${disk.volume_type || ""}`,
    );
  }

  function op(name, text, enabled, onclick, title) {
    return el("button", { type: "button", class: `link op-${name}`, disabled: !enabled, text, title, onclick });
  }

  let rendered = "";
  function renderServers() {
    const signature = JSON.stringify([ecsState.servers, [...ecsState.volumes.values()]]);
    if (signature === rendered) return;
    rendered = signature;
    const body = $("servers").querySelector("tbody");
    body.replaceChildren();
    for (const server of ecsState.servers) {
      const status = server.status;
      const running = status === "ACTIVE";
      const stopped = status === "SHUTOFF";
      const metadata = server.metadata || {};
      body.append(
        el(
          "tr",
          { dataset: { serverId: server.id, status } },
          el(
            "td",
            { class: "name-cell" },
            el("strong", { class: "server-name", text: server.name }),
            el("span", { class: "id", text: server.id }),
          ),
          el(
            "td",
            { class: "nowrap" },
            el("span", { class: `status server-status ${SERVER_CLASS[status] || ""}`, text: SERVER_STATUS[status] || status }),
          ),
          el(
            "td",
            {},
            metadata.image_name || C.shortId(server.image && server.image.id),
            el("span", { class: "id", text: (server.image && server.image.id) || "" }),
          ),
          el("td", { class: "nowrap", text: (server.flavor && server.flavor.name) || "—" }),
          el("td", { class: "disks" }, disksOf(server).map(diskLine)),
          el("td", { text: C.when(server.created) }),
          el(
            "td",
            { class: "ops" },
            op("start", "Start", stopped, () => power(server, "start")),
            op("stop", "Stop", running, () => power(server, "stop")),
            op("reboot", "Restart", running, () => power(server, "reboot")),
            op("changeos", "Change OS", running || stopped, () => openChangeOs(server)),
            op("delete-server", "Delete", running || stopped || status === "ERROR", () => openDelete(server)),
          ),
        ),
      );
    }
    $("servers-empty").hidden = ecsState.servers.length > 0;
  }

  const POWER = {
    start: { key: "os-start", verb: "Starting", label: "Start" },
    stop: { key: "os-stop", verb: "Stopping", label: "Stop" },
    reboot: { key: "reboot", verb: "Restarting", label: "Restart" },
  };

  async function power(server, action) {
    const { key, verb, label } = POWER[action];
    const option = { servers: [{ id: server.id }] };
    if (action !== "start") option.type = "SOFT";
    try {
      const answer = await C.ecs("POST", `/v1/${project()}/cloudservers/action`, { body: { [key]: option } });
      C.trackJob(answer.job_id, `${label} ECS ${server.name}`, { service: "ecs", onEnd: () => refreshServers() });
      C.toast(`${verb} ${server.name}.`);
    } catch (exc) {
      C.showError("servers-error", `${label} ${server.name}: ${exc.message}`);
    }
    refreshServers();
  }

  // ---- Change OS -------------------------------------------------------------------------------------------------
  async function imageChoices() {
    const lists = await Promise.all(
      ["private", "shared", "gold"].map((type) =>
        C.ims("GET", "/v2/cloudimages", { query: { __imagetype: type, status: "active", limit: 500 } })
          .then((data) => data.images || [])
          .catch(() => []),
      ),
    );
    return lists.flat();
  }

  async function showChangeOsWarning() {
    const warning = $("changeos-warning");
    const imageId = $("changeos-image").value;
    warning.hidden = true;
    if (!imageId) return;
    let image;
    try {
      image = await C.ims("GET", `/v2/images/${imageId}`);
    } catch (exc) {
      C.showError("changeos-error", exc.message);
      return;
    }
    if ($("changeos-image").value !== imageId) return; // another image was chosen meanwhile
    const data = (image.__disks || []).filter((d) => !d.bootable);
    if (image.__whole_image !== "true" || !data.length) return;
    const listed = data.map((d) => `${d.device} ${d.size_gb} GB`).join(", ");
    warning.textContent =
      `${image.name} is a full-ECS image with ${data.length} data disk${data.length > 1 ? "s" : ""} (${listed}): ` +
      "changing the OS writes the system disk only, so the image's data disks are not restored and this ECS " +
      "keeps its own data disks as they are. To get the image's data disks, apply for a new server from the image.";
    warning.hidden = false;
  }

  async function openChangeOs(server) {
    ecsState.current = server;
    $("changeos-server").textContent = `${server.name} (${server.id}) · ${SERVER_STATUS[server.status] || server.status}`;
    C.showError("changeos-error", "");
    $("changeos-warning").hidden = true;
    $("changeos-stop").checked = false;
    $("changeos-stop-label").hidden = server.status !== "ACTIVE";
    const select = $("changeos-image");
    select.replaceChildren(el("option", { value: "", text: "Loading images…" }));
    $("changeos-dialog").showModal();
    const images = await imageChoices();
    select.replaceChildren(
      el("option", { value: "", text: "Choose an image" }),
      ...images.map((i) =>
        el("option", {
          value: i.id,
          text: `${i.name} · ${i.__whole_image === "true" ? "full-ECS image" : "public image"} · ${i.__os_version || ""}`,
        }),
      ),
    );
  }

  async function changeOsSubmit(event) {
    event.preventDefault();
    const server = ecsState.current;
    const imageid = $("changeos-image").value;
    C.showError("changeos-error", "");
    if (!imageid) return C.showError("changeos-error", "Choose an image.");
    if (server.status === "ACTIVE" && !$("changeos-stop").checked) {
      return C.showError("changeos-error", "The ECS is running: stop it first, or tick Stop the ECS first.");
    }
    const option = { imageid };
    if ($("changeos-stop").checked) option.mode = "withStopServer";
    $("changeos-submit").disabled = true;
    try {
      const answer = await C.ecs("POST", `/v2/${project()}/cloudservers/${server.id}/changeos`, {
        body: { "os-change": option },
      });
      C.trackJob(answer.job_id, `Change OS of ${server.name}`, { service: "ecs", onEnd: () => refreshServers() });
      $("changeos-dialog").close();
      C.toast(`Changing the OS of ${server.name}.`);
      refreshServers();
    } catch (exc) {
      C.showError("changeos-error", `The OS was not changed. ${exc.message}`);
    } finally {
      $("changeos-submit").disabled = false;
    }
  }

  // ---- Delete ----------------------------------------------------------------------------------------------------
  function openDelete(server) {
    ecsState.current = server;
    $("server-delete-name").textContent = `Delete the ECS ${server.name} (${server.id})?`;
    $("server-delete-volumes").checked = false;
    C.showError("server-delete-error", "");
    $("server-delete-dialog").showModal();
  }

  async function deleteSubmit(event) {
    event.preventDefault();
    const server = ecsState.current;
    const withDisks = $("server-delete-volumes").checked;
    $("server-delete-submit").disabled = true;
    try {
      const answer = await C.ecs("POST", `/v1/${project()}/cloudservers/delete`, {
        body: { servers: [{ id: server.id }], delete_volume: withDisks, delete_publicip: false },
      });
      C.trackJob(answer.job_id, `Delete ECS ${server.name}`, { service: "ecs", onEnd: () => refreshServers() });
      $("server-delete-dialog").close();
      C.toast(withDisks ? `${server.name} deleted with its disks.` : `${server.name} deleted; its disks stay.`);
      refreshServers();
    } catch (exc) {
      C.showError("server-delete-error", `Not deleted. ${exc.message}`);
    } finally {
      $("server-delete-submit").disabled = false;
    }
  }

  function wire() {
    $("server-form").addEventListener("submit", createSubmit);
    $("server-cancel").addEventListener("click", () => $("nav-images").click());
    $("server-disks").addEventListener("input", () => {
      if (!document.querySelector('.field-error[data-for="server-disks"]').hidden) enteredDisks();
    });
    $("servers-refresh").addEventListener("click", refreshServers);
    $("changeos-form").addEventListener("submit", changeOsSubmit);
    $("changeos-image").addEventListener("change", showChangeOsWarning);
    $("changeos-cancel").addEventListener("click", () => $("changeos-dialog").close());
    $("server-delete-form").addEventListener("submit", deleteSubmit);
    $("server-delete-cancel").addEventListener("click", () => $("server-delete-dialog").close());
  }

  window.ImsServers = { wire, openCreate, showServers, refreshServers };
})();
