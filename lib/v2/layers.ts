/**
 * v2 layers: org-wide shared configuration (variables, other layers) that apps reference.
 * Changing a layer restarts the isolates of every app using it; no redeploy is needed.
 *
 * @module
 */
import type { HttpClient } from "../http.ts";
import { listQuery, segment } from "./query.ts";
import type {
  CreateLayerRequest,
  Layer,
  LayerAppRef,
  ListLayersOptions,
  ListOptions,
  UpdateLayerRequest,
} from "./types.ts";

/** `/layers/…`; `{layer}` is the id (`lyr_…`) or the slug. */
export class V2Layers {
  #http: HttpClient;

  /** Uses `http` for every request. */
  constructor(http: HttpClient) {
    this.#http = http;
  }

  /** `GET /layers`, every page. */
  async *list(options: ListLayersOptions = {}): AsyncGenerator<Layer> {
    yield* this.#http.paginate<Layer>("/layers", listQuery(options, { search: options.search }));
  }

  /** `POST /layers` (201). */
  async create(request: CreateLayerRequest): Promise<Layer> {
    return await this.#http.json("POST", "/layers", { json: request });
  }

  /** `GET /layers/{layer}`; a missing one is an `ApiError` 404. */
  async get(idOrSlug: string): Promise<Layer> {
    return await this.#http.json("GET", `/layers/${segment(idOrSlug)}`);
  }

  /** `PATCH /layers/{layer}`: `layers` replaces all, `env_vars` deep-merges. */
  async update(idOrSlug: string, request: UpdateLayerRequest): Promise<Layer> {
    return await this.#http.json("PATCH", `/layers/${segment(idOrSlug)}`, { json: request });
  }

  /** `DELETE /layers/{layer}` (204); a 409 while apps still reference it. */
  async delete(idOrSlug: string): Promise<void> {
    await this.#http.json("DELETE", `/layers/${segment(idOrSlug)}`);
  }

  /** `GET /layers/{layer}/apps`, every page: the apps using the layer. */
  async *apps(idOrSlug: string, options: ListOptions = {}): AsyncGenerator<LayerAppRef> {
    yield* this.#http.paginate<LayerAppRef>(
      `/layers/${segment(idOrSlug)}/apps`,
      listQuery(options),
    );
  }
}
