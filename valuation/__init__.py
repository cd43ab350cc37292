"""Valuation of data licences from usage statistics (pure polars).

Entry points (imported from their modules, so `valuation.contract` stays cheap to import):
`valuation.model.fit` -> `Model` (`Model.quote` prices one request cheaply),
`valuation.model.predict` / `predict_frame` for a frame of requests, `valuation.model.quote`
(one shot), `valuation.backtest.backtest`, and `valuation.features.usage_features` for
point-in-time usage statistics. The data contract is `valuation.contract`.
"""
